package history

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/zchunk"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// CheckOptions configure Check. The zero value checks metadata and object
// sizes without downloading data.
type CheckOptions struct {
	// ReadData downloads and authenticates every segment of every
	// referenced object.
	ReadData bool
	// Progress, if set, is called with bytes checked so far and in all.
	Progress func(done, total int64)
	// Parallel is the number of objects downloaded at once (0 = 4).
	Parallel int
}

// Damage is one problem Check found. For damage to a file's contents, Path
// names the file and Snapshots every tree it is damaged in (HeadLabel for
// the current one, else snapshot ids). Damage to metadata has no Path: the
// whole tree named in Snapshots (or the catalog entry Object) is lost.
type Damage struct {
	Path      string
	Snapshots []string
	Object    string // the store key at fault
	Problem   string
}

func (d Damage) String() string {
	var b strings.Builder
	if d.Path != "" {
		fmt.Fprintf(&b, "%s ", d.Path)
	}
	if len(d.Snapshots) > 0 {
		fmt.Fprintf(&b, "(snapshot %s) ", strings.Join(d.Snapshots, ", "))
	}
	if d.Object != "" {
		fmt.Fprintf(&b, "%s: ", d.Object)
	}
	b.WriteString(d.Problem)
	return b.String()
}

// CheckResult is what Check found.
type CheckResult struct {
	Snapshots int   // catalog entries checked
	Objects   int   // distinct data objects referenced
	Bytes     int64 // their stored bytes
	Damage    []Damage
	// Unreferenced are objects under data/ and meta/ that nothing
	// references: garbage a prune deletes after the grace period. Not damage.
	Unreferenced      []remote.ObjectInfo
	UnreferencedBytes int64
}

// Damaged reports whether Check found any damage.
func (r *CheckResult) Damaged() bool { return len(r.Damage) > 0 }

// fileRef is one file (path in one tree) that uses an object.
type fileRef struct{ path, label string }

// objectState is what Check knows of one referenced data object.
type objectState struct {
	use    objectUse
	files  []fileRef
	want   int64       // stored size its extents imply
	frames []objectUse // its compressed extents (format 4), each once
}

// Check verifies the vault: the head and its chain, every catalog entry and
// the snapshot it names, that every object they reference exists with the
// size its extents imply and (ReadData) authenticates. An error means the
// check could not run (store unreachable); damage is in the result.
func Check(ctx context.Context, s remote.Store, c *Catalog, opts CheckOptions) (*CheckResult, error) {
	res := &CheckResult{}
	var trees []*tree
	if hd, _, err := loadHead(ctx, c); err != nil {
		if !damage(err) {
			return nil, err
		}
		res.Damage = append(res.Damage, Damage{Snapshots: []string{HeadLabel}, Problem: "metadata: " + err.Error()})
	} else {
		trees = append(trees, hd)
	}
	snaps, bad, err := c.ListAll(ctx)
	if err != nil {
		return nil, err
	}
	res.Snapshots = len(snaps) + len(bad)
	for _, b := range bad {
		res.Damage = append(res.Damage, Damage{Object: b.Key, Problem: "catalog entry: " + b.Err.Error()})
	}
	for _, snap := range snaps {
		tr, err := loadSnapshot(ctx, s, c.k, snap)
		if err != nil {
			if !damage(err) {
				return nil, err
			}
			res.Damage = append(res.Damage, Damage{Snapshots: []string{snap.ID}, Object: snap.Tree.Key, Problem: "metadata: " + err.Error()})
			continue
		}
		trees = append(trees, tr)
	}
	objs, live, err := referenced(trees)
	if err != nil {
		return nil, err
	}
	// Listed after the trees load: every object they name was uploaded
	// before its commit, so a writer committing meanwhile cannot make a
	// fresh object look missing (only unreferenced).
	listing, err := listObjects(ctx, s)
	if err != nil {
		return nil, err
	}
	bad2 := checkSizes(objs, listing, res)
	if opts.ReadData {
		if err := readData(ctx, s, c.k, objs, bad2, opts, res); err != nil {
			return nil, err
		}
	}
	for key, o := range listing {
		if !live[key] && (strings.HasPrefix(key, layout.DataPrefix) || strings.HasPrefix(key, layout.MetaPrefix)) {
			res.Unreferenced = append(res.Unreferenced, o)
			res.UnreferencedBytes += o.Size
		}
	}
	slices.SortStableFunc(res.Damage, func(a, b Damage) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(res.Unreferenced, func(a, b remote.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return res, nil
}

// damage reports whether err is the bucket's fault (missing or tampered
// objects) rather than a failure to ask it.
func damage(err error) bool {
	return errors.Is(err, crypt.ErrAuth) || errors.Is(err, remote.ErrNotFound)
}

func listObjects(ctx context.Context, s remote.Store) (map[string]remote.ObjectInfo, error) {
	out := map[string]remote.ObjectInfo{}
	err := s.List(ctx, "", func(o remote.ObjectInfo) error {
		out[o.Key] = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: check: list: %w", err)
	}
	return out, nil
}

// referenced maps every data object the trees use to the files using it,
// and returns the set of every key (data and metadata) they reference.
func referenced(trees []*tree) (map[string]*objectState, map[string]bool, error) {
	objs := map[string]*objectState{}
	live := map[string]bool{}
	for _, tr := range trees {
		for _, k := range tr.meta {
			live[k] = true
		}
		tr.dataKeys(func(key string, u objectUse) {
			live[key] = true
			o := objs[key]
			if o == nil {
				o = &objectState{use: u, want: crypt.ObjectCipherSize(int64(u.size))}
				objs[key] = o
			}
			if u.frame.Compressed() && !slices.Contains(o.frames, u) {
				o.frames = append(o.frames, u)
			}
		})
		err := walkFiles(tr.t, func(p string, exts []meta.Extent) {
			seen := map[string]bool{}
			for _, e := range exts {
				if e.IsHole() {
					continue
				}
				key := layout.DataKey(e.Object)
				if o := objs[key]; o != nil && !seen[key] {
					seen[key] = true
					o.files = append(o.files, fileRef{path: p, label: tr.label})
				}
			}
		})
		if err != nil {
			return nil, nil, fmt.Errorf("history: check %s: %w", tr.label, err)
		}
	}
	return objs, live, nil
}

// checkSizes reports referenced objects that are missing or have the
// wrong size, and returns their keys (no point downloading them).
func checkSizes(objs map[string]*objectState, listing map[string]remote.ObjectInfo, res *CheckResult) map[string]bool {
	bad := map[string]bool{}
	for _, key := range slices.Sorted(maps.Keys(objs)) {
		o := objs[key]
		res.Objects++
		info, ok := listing[key]
		switch {
		case !ok:
			bad[key] = true
			res.addObjectDamage(key, o, "missing")
		case info.Size != o.want:
			bad[key] = true
			res.Bytes += info.Size
			res.addObjectDamage(key, o, fmt.Sprintf("size %d, want %d", info.Size, o.want))
		default:
			res.Bytes += info.Size
		}
	}
	return bad
}

// readData downloads and authenticates every referenced object not already
// found damaged.
func readData(ctx context.Context, s remote.Store, k *crypt.Keys, objs map[string]*objectState, skip map[string]bool, opts CheckOptions, res *CheckResult) error {
	var keys []string
	var total int64
	for _, key := range slices.Sorted(maps.Keys(objs)) {
		if !skip[key] {
			keys = append(keys, key)
			total += objs[key].want
		}
	}
	par := opts.Parallel
	if par <= 0 {
		par = 4
	}
	var mu sync.Mutex
	var done int64
	var firstErr error
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, key := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := objs[key]
			problem, err := readOne(ctx, s, k, key, o)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if problem != "" {
				res.addObjectDamage(key, o, problem)
			}
			done += o.want
			if opts.Progress != nil {
				opts.Progress(done, total)
			}
		})
	}
	wg.Wait()
	return firstErr
}

// readOne fetches one object and authenticates it whole; problem "" means
// good. err is a failure to ask the store, not damage.
func readOne(ctx context.Context, s remote.Store, k *crypt.Keys, key string, o *objectState) (problem string, err error) {
	sealed, _, err := s.Get(ctx, key)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return "missing", nil
	case err != nil:
		return "", fmt.Errorf("history: check: read %s: %w", key, err)
	}
	pt, err := crypt.OpenObject(k, o.use.id, sealed)
	switch {
	case err != nil:
		return "does not authenticate (tampered or damaged)", nil
	case int64(len(pt)) != int64(o.use.size):
		return fmt.Sprintf("holds %d bytes, want %d", len(pt), o.use.size), nil
	}
	for _, f := range o.frames {
		e := f.frame
		if int64(e.Offset)+int64(e.Stored) > int64(len(pt)) {
			return fmt.Sprintf("compressed extent [%d,+%d) past its %d bytes", e.Offset, e.Stored, len(pt)), nil
		}
		if _, err := zchunk.Decode(pt[e.Offset:e.Offset+e.Stored], e.Length, f.chunk); err != nil {
			return err.Error(), nil
		}
	}
	return "", nil
}

// addObjectDamage records one Damage per file path using the object, with
// every snapshot that path is in.
func (r *CheckResult) addObjectDamage(key string, o *objectState, problem string) {
	if len(o.files) == 0 {
		r.Damage = append(r.Damage, Damage{Object: key, Problem: problem + " (used by a file that has no name any more)"})
		return
	}
	byPath := map[string][]string{}
	var order []string
	for _, f := range o.files {
		if byPath[f.path] == nil {
			order = append(order, f.path)
		}
		byPath[f.path] = append(byPath[f.path], f.label)
	}
	for _, p := range order {
		r.Damage = append(r.Damage, Damage{Path: p, Snapshots: byPath[p], Object: key, Problem: problem})
	}
}
