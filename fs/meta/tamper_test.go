package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// tamperVault is a vault with a snapshot and three journal batches; it
// returns the store, the live tree, the head bytes after the second batch
// and the keys of the snapshot and batches in order.
func tamperVault(t *testing.T) (*remote.Memory, *Tree, []byte, []string) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{SnapshotEvery: 100, NoInline: true})
	for i := range 200 {
		must(t)(fx.t.Create(fx.d, "pad-"+itoa(i), 0o644, 0, 0, 5))
	}
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	var oldHead []byte
	for i := range 3 {
		must(t)(fx.t.Create(RootIno, "n"+itoa(i), 0o644, 0, 0, 10))
		if _, err := l.Commit(ctx, fx.t); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			oldHead, _, _ = s.Get(ctx, layout.Head)
		}
	}
	h := l.head
	keys := []string{h.snapshot.key}
	for _, r := range h.journal {
		keys = append(keys, r.key)
	}
	if len(keys) != 4 {
		t.Fatalf("chain %v", keys)
	}
	return s, fx.t, oldHead, keys
}

func TestTamper(t *testing.T) {
	ctx := context.Background()
	flip := func(s *remote.Memory, key string, at int) {
		b, _, _ := s.Get(ctx, key)
		if at < 0 {
			at += len(b)
		}
		b[at] ^= 0x01
		s.Put(ctx, key, b, remote.PutOptions{})
	}
	tests := []struct {
		name   string
		tamper func(s *remote.Memory, oldHead []byte, keys []string)
		minSeq uint64
		want   error
	}{
		{"flip head header", func(s *remote.Memory, _ []byte, _ []string) { flip(s, layout.Head, 5) }, 0, crypt.ErrAuth},
		{"flip head body", func(s *remote.Memory, _ []byte, _ []string) { flip(s, layout.Head, 40) }, 0, crypt.ErrAuth},
		{"flip head tag", func(s *remote.Memory, _ []byte, _ []string) { flip(s, layout.Head, -1) }, 0, crypt.ErrAuth},
		{"truncate head", func(s *remote.Memory, _ []byte, _ []string) {
			b, _, _ := s.Get(ctx, layout.Head)
			s.Put(ctx, layout.Head, b[:20], remote.PutOptions{})
		}, 0, crypt.ErrAuth},
		{"flip snapshot", func(s *remote.Memory, _ []byte, k []string) { flip(s, k[0], 60) }, 0, crypt.ErrAuth},
		{"flip batch", func(s *remote.Memory, _ []byte, k []string) { flip(s, k[2], 50) }, 0, crypt.ErrAuth},
		{"flip last batch tag", func(s *remote.Memory, _ []byte, k []string) { flip(s, k[3], -1) }, 0, crypt.ErrAuth},
		{"truncate batch", func(s *remote.Memory, _ []byte, k []string) {
			b, _, _ := s.Get(ctx, k[1])
			s.Put(ctx, k[1], b[:len(b)-16], remote.PutOptions{})
		}, 0, crypt.ErrAuth},
		{"delete batch", func(s *remote.Memory, _ []byte, k []string) { s.Delete(ctx, k[2]) }, 0, remote.ErrNotFound},
		{"delete snapshot", func(s *remote.Memory, _ []byte, k []string) { s.Delete(ctx, k[0]) }, 0, remote.ErrNotFound},
		{"swap two batches", func(s *remote.Memory, _ []byte, k []string) {
			a, _, _ := s.Get(ctx, k[1])
			b, _, _ := s.Get(ctx, k[2])
			s.Put(ctx, k[1], b, remote.PutOptions{})
			s.Put(ctx, k[2], a, remote.PutOptions{})
		}, 0, crypt.ErrAuth},
		{"batch replaces snapshot", func(s *remote.Memory, _ []byte, k []string) {
			b, _, _ := s.Get(ctx, k[1])
			s.Put(ctx, k[0], b, remote.PutOptions{})
		}, 0, crypt.ErrAuth},
		{"older head, device saw newer", func(s *remote.Memory, old []byte, _ []string) {
			s.Put(ctx, layout.Head, old, remote.PutOptions{})
		}, 5, crypt.ErrAuth},
		{"head of another vault", func(s *remote.Memory, _ []byte, _ []string) {
			other := remote.NewMemory()
			var master crypt.Key
			k := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, testChunk)
			if _, err := Create(ctx, other, k, NewTree(testChunk, 0, 0, 1), LogOptions{}); err != nil {
				panic(err)
			}
			b, _, _ := other.Get(ctx, layout.Head)
			s.Put(ctx, layout.Head, b, remote.PutOptions{})
		}, 0, crypt.ErrAuth},
		{"delete head", func(s *remote.Memory, _ []byte, _ []string) { s.Delete(ctx, layout.Head) }, 0, remote.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, oldHead, keys := tamperVault(t)
			tc.tamper(s, oldHead, keys)
			tr, l, err := Open(ctx, s, testKeys(), LogOptions{CheckHead: minSeq(tc.minSeq)})
			if !errors.Is(err, tc.want) || tr != nil || l != nil {
				t.Fatalf("Open = %v, %v, %v; want %v", tr != nil, l != nil, err, tc.want)
			}
			if tc.want == remote.ErrNotFound && !strings.Contains(err.Error(), "head") && !strings.Contains(err.Error(), "meta/") {
				t.Fatalf("error does not name the object: %v", err)
			}
		})
	}
}

// TestOlderHeadOpens documents the limit: without a high-water mark an
// older, intact head is a valid (older) state and opens as such.
func TestOlderHeadOpens(t *testing.T) {
	ctx := context.Background()
	s, _, oldHead, _ := tamperVault(t)
	s.Put(ctx, layout.Head, oldHead, remote.PutOptions{})
	tr, l, err := Open(ctx, s, testKeys(), LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Lookup(RootIno, "n2"); err == nil || l.Head().Seq != 4 {
		t.Fatalf("older head: seq %d, n2 present: %v", l.Head().Seq, err == nil)
	}
	if _, _, err := Open(ctx, s, testKeys(), LogOptions{CheckHead: minSeq(4)}); err != nil {
		t.Fatalf("a mark equal to head: %v", err)
	}
	if _, _, err := Open(ctx, s, testKeys(), LogOptions{CheckHead: minSeq(5)}); !errors.Is(err, ErrRollback) {
		t.Fatalf("a mark past head: %v", err)
	}
}

// minSeq is a CheckHead that refuses heads older than seq, as a device's
// high-water mark does.
func minSeq(seq uint64) func(Head) error {
	return func(h Head) error {
		if h.Seq < seq {
			return fmt.Errorf("head seq %d < %d: %w: %w", h.Seq, seq, ErrRollback, crypt.ErrAuth)
		}
		return nil
	}
}

// TestCheckHeadSeesTheLoadedHead: the head given to CheckHead is the one
// Open loads, even when the bucket serves another head to a second read
// (no time-of-check gap: Open reads head once).
func TestCheckHeadSeesTheLoadedHead(t *testing.T) {
	ctx := context.Background()
	s, _, oldHead, _ := tamperVault(t)
	cur, _, _ := s.Get(ctx, layout.Head)
	fs := &flipFlopStore{Memory: s, first: cur, then: oldHead}
	var checked Head
	tr, l, err := Open(ctx, fs, testKeys(), LogOptions{CheckHead: func(h Head) error { checked = h; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if checked != l.Head() {
		t.Fatalf("checked head %+v, loaded %+v", checked, l.Head())
	}
	if _, err := tr.Lookup(RootIno, "n2"); err != nil {
		t.Fatalf("the checked (newer) head's tree was not the one loaded: %v", err)
	}
}

// flipFlopStore serves first for the first read of head and then for
// every later one: a bucket showing the check one head and the load
// another.
type flipFlopStore struct {
	*remote.Memory
	first, then []byte
	reads       int
}

func (f *flipFlopStore) Get(ctx context.Context, key string) ([]byte, remote.ObjectInfo, error) {
	b, info, err := f.Memory.Get(ctx, key)
	if key == layout.Head && err == nil {
		f.reads++
		if f.reads > 1 {
			b = f.then
		} else {
			b = f.first
		}
	}
	return b, info, err
}

func TestTamperUntouchedOpens(t *testing.T) {
	s, live, _, _ := tamperVault(t)
	got, _ := reopen(t, s)
	sameTree(t, live, got)
}

// TestNoPlaintextInBucket: names, symlink targets and xattrs never appear in
// any stored object, in snapshots or in journal batches.
func TestNoPlaintextInBucket(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	fx, l := newVault(t, s, LogOptions{Device: "dev", SnapshotEvery: 100})
	secrets := []string{"SECRET-NAME-1", "SECRET-TARGET-2", "SECRET-XATTR-3", "SECRET-VALUE-4"}
	write := func(suffix string) {
		in := must(t)(fx.t.Create(RootIno, secrets[0]+suffix, 0o644, 0, 0, 9))
		must(t)(fx.t.Symlink(fx.d, "l"+suffix, secrets[1]+suffix, 0, 0, 9))
		if err := fx.t.SetXattr(in.Ino, "user."+secrets[2]+suffix, []byte(secrets[3]+suffix), 0, 9); err != nil {
			t.Fatal(err)
		}
	}
	write("a")
	if _, err := l.Snapshot(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	write("b")
	if h, err := l.Commit(ctx, fx.t); err != nil || h.Batches != 1 {
		t.Fatalf("commit: %+v, %v", h, err)
	}
	err := s.List(ctx, "", func(o remote.ObjectInfo) error {
		b, _, err := s.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			if strings.Contains(string(b), sec[:10]) || strings.Contains(o.Key, sec[:10]) {
				t.Errorf("%s holds %q in plaintext", o.Key, sec)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
