package history

import (
	"context"
	"fmt"
	"path"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// HeadLabel names the current head's tree where messages name a snapshot.
const HeadLabel = "current"

// tree is one loaded tree to keep or check: the head's or a snapshot's.
type tree struct {
	label string // HeadLabel or a snapshot id
	t     *meta.Tree
	meta  []string // store keys of the metadata objects it was loaded from
}

// loadHead loads the current head with its whole chain, verified, after
// the catalog's CheckHead accepted exactly that head.
func loadHead(ctx context.Context, c *Catalog) (*tree, meta.Head, error) {
	t, l, err := meta.Open(ctx, c.s, c.k, meta.LogOptions{CheckHead: c.checkHead})
	if err != nil {
		return nil, meta.Head{}, err
	}
	tr := &tree{label: HeadLabel, t: t}
	for _, r := range l.Chain() {
		tr.meta = append(tr.meta, r.Key)
	}
	return tr, l.Head(), nil
}

// loadSnapshot loads the tree a catalog entry names, verified.
func loadSnapshot(ctx context.Context, s remote.Store, k *crypt.Keys, snap Snapshot) (*tree, error) {
	t, err := meta.OpenSnapshot(ctx, s, k, snap.Tree)
	if err != nil {
		return nil, err
	}
	return &tree{label: snap.ID, t: t, meta: []string{snap.Tree.Key}}, nil
}

// objectUse is one extent of one object: its expected plaintext size, and
// for a compressed extent (format 4) the extent, whose frame must decode.
type objectUse struct {
	id    crypt.ObjectID
	size  uint32
	frame meta.Extent // Stored != 0: a compressed extent
	chunk int64       // the tree's chunk size, with frame
}

// dataKeys calls fn with the store key of every object t references (once
// per extent, so possibly several times per object).
func (tr *tree) dataKeys(fn func(key string, u objectUse)) {
	chunk := int64(tr.t.ChunkSize())
	tr.t.ForEachExtent(func(_ meta.Ino, e meta.Extent) {
		u := objectUse{id: e.Object, size: e.ObjectSize}
		if e.Compressed() {
			u.frame, u.chunk = e, chunk
		}
		fn(layout.DataKey(e.Object), u)
	})
}

// walkFiles calls fn for every path of every regular file in t (a file
// with hard links once per name), depth first, with its extents.
func walkFiles(t *meta.Tree, fn func(p string, exts []meta.Extent)) error {
	var walk func(dir meta.Ino, dirPath string) error
	walk = func(dir meta.Ino, dirPath string) error {
		ents, err := t.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("history: read directory %s: %w", dirPath, err)
		}
		for _, e := range ents {
			p := path.Join(dirPath, e.Name)
			in, ok := t.Get(e.Ino)
			switch {
			case !ok:
				return fmt.Errorf("history: %s: inode %d missing", p, e.Ino)
			case in.IsDir():
				if err := walk(e.Ino, p); err != nil {
					return err
				}
			case in.IsRegular() && len(in.Extents) > 0:
				fn(p, in.Extents)
			}
		}
		return nil
	}
	return walk(meta.RootIno, "/")
}
