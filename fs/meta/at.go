package meta

import (
	"context"
	"fmt"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// ObjectRef names one sealed metadata object as a head does: the commit seq
// it was sealed with, its store key and the SHA-256 of its sealed bytes.
// A snapshot catalog (fs/history) keeps the ref of each named snapshot so
// that the snapshot can be opened, and verified, long after head moved on.
type ObjectRef struct {
	Seq  uint64
	Key  string
	Hash [32]byte
}

func (r ref) public() ObjectRef { return ObjectRef{Seq: r.seq, Key: r.key, Hash: r.hash} }

// SnapshotRef returns the ref of the full snapshot the current head builds
// on. Right after Snapshot it names exactly the tree that Snapshot sealed.
func (l *Log) SnapshotRef() ObjectRef {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	return l.head.snapshot.public()
}

// Chain returns the refs of every metadata object the current head names:
// its checkpoint first, then the journal batches stored as objects, in
// commit order (inline batches are in the head, not objects).
func (l *Log) Chain() []ObjectRef {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	out := []ObjectRef{l.head.snapshot.public()}
	for _, r := range l.head.journal {
		if r.inline == "" {
			out = append(out, r.public())
		}
	}
	return out
}

// OpenSnapshot loads the tree of one full snapshot, verifying its hash and
// seal exactly as Open does, without any journal on top. The tree is for
// reading only: it is never committed. Failures wrap crypt.ErrAuth
// (tampered, wrong hash, a key or seq that does not match) or
// remote.ErrNotFound (the object is gone), with the key in the message.
func OpenSnapshot(ctx context.Context, s remote.Store, k *crypt.Keys, r ObjectRef) (*Tree, error) {
	seq, ext, ok := layout.ParseMetaKey(r.Key)
	if !ok || ext != layout.SnapshotExt || seq != r.Seq {
		return nil, fmt.Errorf("meta: open snapshot %q: not a snapshot key of seq %d: %w", r.Key, r.Seq, crypt.ErrAuth)
	}
	l := &Log{s: s, k: k}
	t := newEmptyTree(k.ChunkSize)
	if _, _, err := l.load(ctx, t, crypt.KindSnapshot, ref{seq: r.Seq, key: r.Key, hash: r.Hash}, [32]byte{}); err != nil {
		return nil, fmt.Errorf("meta: open snapshot: %w", err)
	}
	if err := t.finishLoad(0, true); err != nil {
		return nil, fmt.Errorf("meta: open snapshot %s: %w: %w", r.Key, crypt.ErrAuth, err)
	}
	return t, nil
}
