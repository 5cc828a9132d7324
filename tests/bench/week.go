package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sealfs/sealfs/crypt"
)

// Five days of a phone's chat backups landing in one mount (issue 21):
// identical content should be uploaded and stored once. Each day is one
// mount of the same device: the apps write, umount, "sealfs snapshot".
//
//   - WhatsApp: a new sealed (random) database of --week-db MiB,
//     Databases/msgstore-DATE.1.db.crypt15, and an identical copy
//     msgstore.db.crypt15 written as a temp file and renamed over the
//     last one; 3 dated copies kept (the oldest deleted); --week-files new
//     media files a day, 50 KiB-5 MiB (log-uniform), random content.
//   - Signal: signal-DATE.backup.tmp of 2x --week-db MiB, fsync, renamed to
//     .backup, 2 kept. A new backup each day, but 90 % of its 4 MiB-aligned
//     chunks equal yesterday's (10 %, at least one, are new).
//   - Telegram Desktop: a new ChatExport_DATE/ folder each day holding
//     every photo of the earlier exports byte for byte plus --week-files
//     new ones (80-400 KiB) and a messages.html of all messages so far.
//
// The benchmark counts what is distinct from what it generated, by
// content: every file is cut at 4 MiB (the chunk size) boundaries and each
// piece is a unit identified by its SHA-256; a file up to 4 MiB is one
// unit. A day's new distinct bytes are those of units no earlier snapshot
// (nor an earlier file of the day) held. After the five days it compares
// the bucket with the distinct bytes of the history (all 5 snapshots
// kept), prunes to the last snapshot (--keep-last 1 --grace 0) and
// compares again with the distinct bytes of the live tree, then restores
// everything on a fresh device and checks each file's SHA-256.

const (
	weekDays  = 5
	weekChunk = crypt.DefaultChunkSize // the unit of the distinct count
)

var weekStart = time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)

// weekUnit is one piece of a file for the distinct count.
type weekUnit struct {
	sum [32]byte
	n   int64
}

// weekFile is a file of the live tree as the apps left it.
type weekFile struct {
	sum   [32]byte
	size  int64
	units []weekUnit
}

// weekTree tracks the live tree and every unit ever written.
type weekTree struct {
	root  string
	live  map[string]weekFile // relative path -> file
	seen  map[[32]byte]int64  // every unit of the history -> size
	wrote int64               // bytes the apps wrote today
	fresh int64               // bytes of today's new units
	// smallRepeat is the bytes of today's units that repeat earlier ones
	// and are at most weekPacked: sealfs packs those (small files, short
	// last chunks) into shared objects, which this branch does not
	// deduplicate, so they are expected to be uploaded again.
	smallRepeat, smallRepeatAll int64
}

// weekPacked is the largest chunk version sealfs packs with others
// (fs/vault/pack.go: chunk/16).
const weekPacked = weekChunk / 16

func (t *weekTree) startDay(root string) {
	t.root, t.wrote, t.fresh, t.smallRepeat = root, 0, 0, 0
}

// weekWriter writes one file and hashes it whole and by unit.
type weekWriter struct {
	t           *weekTree
	rel         string
	f           *os.File
	whole, unit hash.Hash
	inUnit      int64
	file        weekFile
}

func (t *weekTree) create(rel string) (*weekWriter, error) {
	path := filepath.Join(t.root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &weekWriter{t: t, rel: rel, f: f, whole: sha256.New(), unit: sha256.New()}, nil
}

func (w *weekWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("%s: %w", w.rel, err)
	}
	w.whole.Write(p)
	for len(p) > 0 {
		k := min(int64(len(p)), weekChunk-w.inUnit)
		w.unit.Write(p[:k])
		w.inUnit += k
		p = p[k:]
		if w.inUnit == weekChunk {
			w.endUnit()
		}
	}
	w.file.size += int64(n)
	return n, nil
}

func (w *weekWriter) endUnit() {
	var u weekUnit
	copy(u.sum[:], w.unit.Sum(nil))
	u.n = w.inUnit
	w.file.units = append(w.file.units, u)
	w.unit.Reset()
	w.inUnit = 0
}

// close (with fsync first if sync) records the file in the tree.
func (w *weekWriter) close(sync bool) error {
	if sync {
		if err := w.f.Sync(); err != nil {
			w.f.Close()
			return fmt.Errorf("%s: fsync: %w", w.rel, err)
		}
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", w.rel, err)
	}
	if w.inUnit > 0 || w.file.size == 0 {
		w.endUnit()
	}
	copy(w.file.sum[:], w.whole.Sum(nil))
	t := w.t
	t.live[w.rel] = w.file
	t.wrote += w.file.size
	for _, u := range w.file.units {
		if _, ok := t.seen[u.sum]; !ok {
			t.seen[u.sum] = u.n
			t.fresh += u.n
		} else if u.n <= weekPacked {
			t.smallRepeat += u.n
			t.smallRepeatAll += u.n
		}
	}
	return nil
}

func (t *weekTree) writeFile(rel string, data []byte) error {
	w, err := t.create(rel)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.f.Close()
		return err
	}
	return w.close(false)
}

func (t *weekTree) rename(from, to string) error {
	if err := os.Rename(filepath.Join(t.root, from), filepath.Join(t.root, to)); err != nil {
		return err
	}
	t.live[to] = t.live[from]
	delete(t.live, from)
	return nil
}

func (t *weekTree) remove(rel string) error {
	if err := os.Remove(filepath.Join(t.root, rel)); err != nil {
		return err
	}
	delete(t.live, rel)
	return nil
}

// liveDistinct is the bytes of the distinct units of the live tree, of
// all its files, and of its repeated units of at most weekPacked bytes.
func (t *weekTree) liveDistinct() (distinct, total, smallRepeat int64) {
	seen := map[[32]byte]bool{}
	for _, f := range t.live {
		total += f.size
		for _, u := range f.units {
			switch {
			case !seen[u.sum]:
				seen[u.sum] = true
				distinct += u.n
			case u.n <= weekPacked:
				smallRepeat += u.n
			}
		}
	}
	return distinct, total, smallRepeat
}

func (t *weekTree) historyDistinct() int64 {
	var n int64
	for _, v := range t.seen {
		n += v
	}
	return n
}

// weekRandom fills buf with the random content named by (app, day, i).
func weekRandom(buf []byte, app byte, day, i int) {
	var seed [32]byte
	seed[0] = app
	binary.LittleEndian.PutUint64(seed[8:], uint64(day))
	binary.LittleEndian.PutUint64(seed[16:], uint64(i))
	_, _ = rand.NewChaCha8(seed).Read(buf)
}

const (
	appWADB byte = iota + 1
	appWAMedia
	appSignal
	appTGPhoto
)

// weekApps is the three apps' state across the days.
type weekApps struct {
	dbSize, sigSize int64
	files           int
	rng             *rand.Rand
	db              []byte
	sigOrigin       []int // day each Signal chunk's content was made
	photos          []weekPhoto
	messages        []string
}

type weekPhoto struct {
	name string
	data []byte
}

func date(day int) string { return weekStart.AddDate(0, 0, day).Format("2006-01-02") }

func (a *weekApps) whatsapp(t *weekTree, day int) error {
	weekRandom(a.db, appWADB, day, 0)
	if err := t.writeFile("WhatsApp/Databases/msgstore-"+date(day)+".1.db.crypt15", a.db); err != nil {
		return err
	}
	tmp, cur := "WhatsApp/Databases/msgstore.db.crypt15.tmp", "WhatsApp/Databases/msgstore.db.crypt15"
	if err := t.writeFile(tmp, a.db); err != nil {
		return err
	}
	if err := t.rename(tmp, cur); err != nil {
		return err
	}
	if day >= 3 {
		if err := t.remove("WhatsApp/Databases/msgstore-" + date(day-3) + ".1.db.crypt15"); err != nil {
			return err
		}
	}
	lo, hi := math.Log(50<<10), math.Log(5<<20)
	compact := strings.ReplaceAll(date(day), "-", "")
	for i := range a.files {
		buf := make([]byte, int64(math.Exp(lo+a.rng.Float64()*(hi-lo))))
		weekRandom(buf, appWAMedia, day, i)
		if err := t.writeFile(fmt.Sprintf("WhatsApp/Media/WhatsApp Images/IMG-%s-WA%04d.jpg", compact, i), buf); err != nil {
			return err
		}
	}
	return nil
}

func (a *weekApps) signal(t *weekTree, day int) error {
	n := int((a.sigSize + weekChunk - 1) / weekChunk)
	if a.sigOrigin == nil {
		a.sigOrigin = make([]int, n)
	} else {
		k := max(1, int(math.Round(float64(n)/10)))
		for _, i := range a.rng.Perm(n)[:k] {
			a.sigOrigin[i] = day
		}
	}
	tmp := "Signal/Backups/signal-" + date(day) + ".backup.tmp"
	w, err := t.create(tmp)
	if err != nil {
		return err
	}
	buf := make([]byte, weekChunk)
	for i := range n {
		b := buf[:min(weekChunk, a.sigSize-int64(i)*weekChunk)]
		weekRandom(b, appSignal, a.sigOrigin[i], i)
		if _, err := w.Write(b); err != nil {
			w.f.Close()
			return err
		}
	}
	if err := w.close(true); err != nil {
		return err
	}
	if err := t.rename(tmp, strings.TrimSuffix(tmp, ".tmp")); err != nil {
		return err
	}
	if day >= 2 {
		return t.remove("Signal/Backups/signal-" + date(day-2) + ".backup")
	}
	return nil
}

func (a *weekApps) telegram(t *weekTree, day int) error {
	stamp := weekStart.AddDate(0, 0, day).Format("02-01-2006")
	for i := range a.files {
		p := weekPhoto{name: fmt.Sprintf("photo_%d@%s_21-%02d-00.jpg", len(a.photos)+1, stamp, i%60),
			data: make([]byte, 80<<10+a.rng.IntN(320<<10))}
		weekRandom(p.data, appTGPhoto, day, i)
		a.photos = append(a.photos, p)
		a.messages = append(a.messages, fmt.Sprintf(
			`<div class="message default clearfix" id="message%d"><div class="body"><div class="from_name">%s</div>`+
				`<div class="media_wrap clearfix"><a class="photo_wrap clearfix pull_left" href="photos/%s"></a></div>`+
				`<div class="text">%x</div></div></div>`, len(a.messages)+1, []string{"Alice", "Bob"}[i%2], p.name,
			a.rng.Uint64()))
		for range 40 { // the day's text messages
			a.messages = append(a.messages, fmt.Sprintf(
				`<div class="message default clearfix joined" id="message%d"><div class="body"><div class="text">%x %x %x</div></div></div>`,
				len(a.messages)+1, a.rng.Uint64(), a.rng.Uint64(), a.rng.Uint32()))
		}
	}
	dir := "Telegram Desktop/ChatExport_" + date(day) + "/"
	for _, p := range a.photos {
		if err := t.writeFile(dir+"photos/"+p.name, p.data); err != nil {
			return err
		}
	}
	html := "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"/><title>Exported Data</title></head><body>\n" +
		strings.Join(a.messages, "\n") + "\n</body></html>\n"
	return t.writeFile(dir+"messages.html", []byte(html))
}

// bucketBytes sums the sizes of the store's objects (all, and data/).
func (e *env) bucketBytes(ctx context.Context, d *device) (all, data int64, err error) {
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(d.store, "s3://"), "/")
	for o := range e.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix + "/", Recursive: true}) {
		if o.Err != nil {
			return 0, 0, o.Err
		}
		all += o.Size
		if strings.HasPrefix(o.Key, prefix+"/data/") {
			data += o.Size
		}
	}
	return all, data, nil
}

// runPhase runs a sealfs command (no mount) as a measured phase.
func (e *env) runPhase(ctx context.Context, r *report, name string, d *device, args ...string) (phase, string, error) {
	t0 := e.proxy.snapshot()
	start := time.Now()
	out, err := d.run(ctx, args...)
	p := phase{Name: name, Dur: time.Since(start), T: e.proxy.snapshot().sub(t0)}
	r.addPhase(p)
	return p, out, err
}

func weekWorkload(ctx context.Context, e *env, r *report) error {
	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	t := &weekTree{live: map[string]weekFile{}, seen: map[[32]byte]int64{}}
	dbSize := int64(e.cfg.WeekDBMiB) << 20
	a := &weekApps{dbSize: dbSize, sigSize: 2 * dbSize, files: e.cfg.WeekFiles,
		rng: rand.New(rand.NewPCG(21, 5)), db: make([]byte, dbSize)}
	var wroteAll int64
	for day := range weekDays {
		name := fmt.Sprintf("week day %d", day+1)
		t0 := e.proxy.snapshot()
		ph, err := e.sealfsPhase(ctx, r, name, dev, false, func(dir string) error {
			t.startDay(dir)
			if err := a.whatsapp(t, day); err != nil {
				return err
			}
			if err := a.signal(t, day); err != nil {
				return err
			}
			return a.telegram(t, day)
		})
		if err != nil {
			return err
		}
		if _, _, err := e.runPhase(ctx, r, name+" snapshot", dev, "snapshot", "--device", "bench", dev.store); err != nil {
			return err
		}
		tr := e.proxy.snapshot().sub(t0)
		wroteAll += t.wrote
		v := float64(tr.DataUp) / float64(t.fresh)
		r.set(weekDayRows[day], row{Value: v, Unit: "x new distinct", Text: fmt.Sprintf("%.3f x new distinct", v),
			Target: "<= 1.05x new distinct", Met: atMost(v, 1.05),
			Detail: fmt.Sprintf("apps wrote %.1f MiB, %.1f MiB new distinct, %.1f MiB uploaded (data PUTs; %.1f MiB all PUTs) in %.1fs to umount; "+
				"%.1f MiB of the writes repeat small pieces (<= %d KiB, packed files, deduplicated by content id since format 3): without them %.3fx",
				mib(t.wrote), mib(t.fresh), mib(tr.DataUp), mib(tr.Up), ph.Dur.Seconds(),
				mib(t.smallRepeat), weekPacked>>10, float64(tr.DataUp-t.smallRepeat)/float64(t.fresh))})
	}

	all, data, err := e.bucketBytes(ctx, dev)
	if err != nil {
		return err
	}
	hist := t.historyDistinct()
	v := float64(all) / float64(hist)
	r.set(rowWeekHistory, row{Value: v, Unit: "x distinct", Text: fmt.Sprintf("%.3f x distinct", v),
		Target: "<= 1.05x distinct of the history", Met: atMost(v, 1.05),
		Detail: fmt.Sprintf("%.1f MiB in the bucket (%.1f MiB data/) with all %d snapshots; %.1f MiB distinct across them, "+
			"%.1f MiB more written as repeated small pieces; apps wrote %.0f MiB in %d days",
			mib(all), mib(data), weekDays, mib(hist), mib(t.smallRepeatAll), mib(wroteAll), weekDays)})

	pr, out, err := e.runPhase(ctx, r, "week prune", dev, "prune", "--keep-last", "1", "--grace", "0", dev.store)
	if err != nil {
		return err
	}
	all, data, err = e.bucketBytes(ctx, dev)
	if err != nil {
		return err
	}
	live, liveTotal, liveSmall := t.liveDistinct()
	v = float64(all) / float64(live)
	r.set(rowWeekPruned, row{Value: v, Unit: "x distinct", Text: fmt.Sprintf("%.3f x distinct", v),
		Target: "<= 1.05x distinct of the live tree", Met: atMost(v, 1.05),
		Detail: fmt.Sprintf("prune --keep-last 1 --grace 0 (%.1fs): %.1f MiB in the bucket (%.1f MiB data/); live tree %.1f MiB in %d files, "+
			"%.1f MiB distinct, %.1f MiB more in repeated small pieces; prune said %q",
			pr.Dur.Seconds(), mib(all), mib(data), mib(liveTotal), len(t.live), mib(live), mib(liveSmall), lastLine(out))})

	fresh, dest, err := e.restoreTarget(dev)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dest)
	rp, _, err := e.runPhase(ctx, r, "week restore", fresh, "restore", fresh.store, dest)
	if err != nil {
		return err
	}
	bad, err := verifyTree(dest, t.live)
	if err != nil {
		return err
	}
	ok := len(bad) == 0
	text := "ok"
	if !ok {
		text = fmt.Sprintf("%d files wrong", len(bad))
	}
	detail := fmt.Sprintf("sealfs restore on a fresh device, %d files, %.1f MiB in %.1fs (%.1f MiB downloaded), SHA-256 of every file checked against what the apps wrote",
		len(t.live), mib(liveTotal), rp.Dur.Seconds(), mib(rp.T.Down))
	if !ok {
		detail += ": " + strings.Join(bad[:min(len(bad), 5)], "; ")
	}
	r.set(rowWeekRestore, row{Text: text, Target: "byte for byte", Met: &ok, Detail: detail})
	r.note("week: new distinct bytes count content, not names: each file is cut at 4 MiB (chunk) boundaries and each " +
		"piece is one unit (a file up to 4 MiB is one unit), identified by its SHA-256; a day's new distinct bytes are " +
		"those of units no earlier snapshot or earlier file held. Uploaded = body bytes of the PUTs of data/ objects " +
		"(sealed, padded) counted by the proxy, metadata excluded; bucket bytes = every object of the vault.")
	return nil
}

// verifyTree checks that dir holds exactly the files of want, each with
// its SHA-256, and names the ones that differ.
func verifyTree(dir string, want map[string]weekFile) ([]string, error) {
	var bad []string
	found := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		found[rel] = true
		w, ok := want[rel]
		if !ok {
			bad = append(bad, rel+": not written by the apps")
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		if n != w.size || string(h.Sum(nil)) != string(w.sum[:]) {
			bad = append(bad, fmt.Sprintf("%s: %d bytes, content differs", rel, n))
		}
		return nil
	})
	for rel := range want {
		if !found[rel] {
			bad = append(bad, rel+": missing")
		}
	}
	slices.Sort(bad)
	return bad, err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
