package history

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

func TestMain(m *testing.M) { s3test.Main(m) }

const testChunk = 1 << 16

func testKeys() *crypt.Keys {
	var master crypt.Key
	copy(master[:], "history test master key, 32 byte")
	return crypt.DeriveKeys(master, crypt.SuiteAES256GCM, testChunk)
}

// vault is a vault in a store, written to directly through fs/meta the way
// the fs layer does: sealed chunk objects, then extents, then a commit.
type vault struct {
	tb  testing.TB
	ctx context.Context
	s   remote.Store
	k   *crypt.Keys
	t   *meta.Tree
	l   *meta.Log
	c   *Catalog
	dev string
}

func newVault(tb testing.TB, s remote.Store) *vault {
	tb.Helper()
	k := testKeys()
	t := meta.NewTree(testChunk, 0, 0, time.Now().UnixNano())
	v := &vault{tb: tb, ctx: context.Background(), s: s, k: k, t: t, dev: "phone"}
	l, err := meta.Create(v.ctx, s, k, t, meta.LogOptions{Device: v.dev, MountID: "m1"})
	if err != nil {
		tb.Fatal(err)
	}
	v.l, v.c = l, New(s, k, Options{})
	return v
}

// write makes dir/name (dir must exist or be "") hold content, in fresh
// objects of up to one chunk each, and returns their keys.
func (v *vault) write(dir meta.Ino, name string, content []byte) []string {
	v.tb.Helper()
	in, err := v.t.Lookup(dir, name)
	if err != nil {
		if in, err = v.t.Create(dir, name, 0o644, 0, 0, time.Now().UnixNano()); err != nil {
			v.tb.Fatal(err)
		}
	}
	exts := map[int64]meta.Extent{}
	var keys []string
	for i := 0; i*testChunk < len(content); i++ {
		part := content[i*testChunk : min((i+1)*testChunk, len(content))]
		id, err := crypt.NewObjectID(rand.Reader)
		if err != nil {
			v.tb.Fatal(err)
		}
		sealed, err := crypt.SealObject(v.k, id, part)
		if err != nil {
			v.tb.Fatal(err)
		}
		if _, err := v.s.Put(v.ctx, layout.DataKey(id), sealed, remote.PutOptions{}); err != nil {
			v.tb.Fatal(err)
		}
		keys = append(keys, layout.DataKey(id))
		n := uint32(len(part))
		exts[int64(i)] = meta.Extent{Object: id, ObjectSize: n, Length: n}
	}
	if err := v.t.SetFileData(in.Ino, uint64(len(content)), exts, time.Now().UnixNano()); err != nil {
		v.tb.Fatal(err)
	}
	return keys
}

func (v *vault) mkdir(name string) meta.Ino {
	v.tb.Helper()
	in, err := v.t.Mkdir(meta.RootIno, name, 0o755, 0, 0, time.Now().UnixNano())
	if err != nil {
		v.tb.Fatal(err)
	}
	return in.Ino
}

func (v *vault) commit() {
	v.tb.Helper()
	if _, err := v.l.Commit(v.ctx, v.t); err != nil {
		v.tb.Fatal(err)
	}
}

// snapshot takes a full snapshot and records it, as an unmount does.
func (v *vault) snapshot() Snapshot {
	v.tb.Helper()
	if _, err := v.l.Snapshot(v.ctx, v.t); err != nil {
		v.tb.Fatal(err)
	}
	s, err := v.c.Record(v.ctx, v.l, v.t)
	if err != nil {
		v.tb.Fatal(err)
	}
	return s
}

// read returns the content of path in t by opening its objects.
func read(tb testing.TB, s remote.Store, k *crypt.Keys, t *meta.Tree, dir meta.Ino, name string) []byte {
	tb.Helper()
	in, err := t.Lookup(dir, name)
	if err != nil {
		tb.Fatalf("lookup %s: %v", name, err)
	}
	var out bytes.Buffer
	for _, e := range in.Extents {
		sealed, _, err := s.Get(context.Background(), layout.DataKey(e.Object))
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		pt, err := crypt.OpenObject(k, e.Object, sealed)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out.Write(pt[e.Offset : e.Offset+e.Length])
	}
	return out.Bytes()
}

// keys lists every key under prefix.
func keys(tb testing.TB, s remote.Store, prefix string) map[string]int64 {
	tb.Helper()
	out := map[string]int64{}
	err := s.List(context.Background(), prefix, func(o remote.ObjectInfo) error {
		out[o.Key] = o.Size
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// flip flips one bit of the object at key, in place.
func flip(tb testing.TB, s remote.Store, key string, at int) {
	tb.Helper()
	b, _, err := s.Get(context.Background(), key)
	if err != nil {
		tb.Fatal(err)
	}
	b[at%len(b)] ^= 0x20
	if _, err := s.Put(context.Background(), key, b, remote.PutOptions{}); err != nil {
		tb.Fatal(err)
	}
}

// later is a clock an hour and a minute ahead: every object is past the
// default grace period.
func later() time.Time { return time.Now().Add(DefaultGrace + time.Minute) }
