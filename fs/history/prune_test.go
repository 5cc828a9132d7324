package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// history3 is a vault with three snapshots and a head that moved on:
// chat.db is rewritten each time (two chunks), photo.jpg never changes.
type history3 struct {
	*vault
	snaps  []Snapshot
	chat   [][]string // chat.db's object keys: versions 1..4 (4 = head only)
	photo  []string
	chatV4 []byte
}

func chatVersion(n int) []byte {
	return bytes.Repeat([]byte{byte('0' + n)}, testChunk+100)
}

func newHistory3(t testing.TB, s remote.Store) *history3 {
	h := &history3{vault: newVault(t, s)}
	h.photo = h.write(meta.RootIno, "photo.jpg", []byte("a photo"))
	for n := 1; n <= 3; n++ {
		h.chat = append(h.chat, h.write(meta.RootIno, "chat.db", chatVersion(n)))
		h.commit()
		h.snaps = append(h.snaps, h.snapshot())
	}
	h.chatV4 = chatVersion(4)
	h.chat = append(h.chat, h.write(meta.RootIno, "chat.db", h.chatV4))
	h.commit()
	return h
}

func TestPruneMemory(t *testing.T) { testPrune(t, remote.NewMemory()) }

func TestPruneS3(t *testing.T) { testPrune(t, s3test.NewStore(t)) }

func testPrune(t *testing.T, s remote.Store) {
	ctx := context.Background()
	h := newHistory3(t, s)
	before := keys(t, s, "")
	policy := Policy{KeepLast: 1}

	// Within the grace period nothing goes.
	res, err := Prune(ctx, s, h.c, PruneOptions{Policy: policy, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 || res.Young == 0 {
		t.Fatalf("dry run within the grace period: deletes %d, young %d", len(res.Deleted), res.Young)
	}
	// A dry run past it says what would go and changes nothing.
	dry, err := Prune(ctx, s, h.c, PruneOptions{Policy: policy, DryRun: true, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, keys(t, s, "")) {
		t.Fatal("a dry run changed the store")
	}
	if ids(dry.Forgotten) != h.snaps[0].ID+" "+h.snaps[1].ID || ids(dry.Kept) != h.snaps[2].ID {
		t.Fatalf("dry run forgets %q keeps %q", ids(dry.Forgotten), ids(dry.Kept))
	}

	var progress int64
	res, err = Prune(ctx, s, h.c, PruneOptions{Policy: policy, Now: later, Progress: func(d, _ int64) { progress = d }})
	if err != nil {
		t.Fatal(err)
	}
	after := keys(t, s, "")
	gone := map[string]bool{}
	for k := range before {
		if _, ok := after[k]; !ok {
			gone[k] = true
		}
	}
	// Exactly chat.db versions 1 and 2, the two forgotten catalog entries
	// and metadata no kept tree uses.
	for _, k := range slices.Concat(h.chat[0], h.chat[1]) {
		if !gone[k] {
			t.Errorf("object %s only old snapshots used is still there", k)
		}
	}
	for _, k := range slices.Concat(h.chat[2], h.chat[3], h.photo) {
		if gone[k] {
			t.Errorf("object %s a kept tree uses was deleted", k)
		}
	}
	for _, sn := range h.snaps[:2] {
		if !gone[sn.Key] || !gone[sn.Tree.Key] {
			t.Errorf("forgotten snapshot %s: catalog entry or meta snapshot left", sn.ID)
		}
	}
	if len(res.Deleted) != len(dry.Deleted) || res.DeletedBytes != progress {
		t.Errorf("deleted %d objects, dry run said %d, progress %d", len(res.Deleted), len(dry.Deleted), progress)
	}
	var sizeBefore, sizeAfter int64
	for _, n := range before {
		sizeBefore += n
	}
	for _, n := range after {
		sizeAfter += n
	}
	if len(after) >= len(before) || sizeAfter >= sizeBefore {
		t.Fatalf("objects %d -> %d, bytes %d -> %d: want both down", len(before), len(after), sizeBefore, sizeAfter)
	}

	// What is left is whole and nothing is garbage.
	chk, err := Check(ctx, s, h.c, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if chk.Damaged() || len(chk.Unreferenced) != 0 {
		t.Fatalf("check after prune: damage %v, unreferenced %d", chk.Damage, len(chk.Unreferenced))
	}
	tr, _, err := meta.Open(ctx, s, h.k, meta.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, h.k, tr, meta.RootIno, "chat.db"); !bytes.Equal(got, h.chatV4) {
		t.Fatal("the current chat.db changed")
	}
	old, _, err := h.c.Open(ctx, h.snaps[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, h.k, old, meta.RootIno, "chat.db"); !bytes.Equal(got, chatVersion(3)) {
		t.Fatal("the kept snapshot's chat.db changed")
	}

	// A second prune has nothing left to do.
	res, err = Prune(ctx, s, h.c, PruneOptions{Policy: policy, Now: later})
	if err != nil || len(res.Deleted) != 0 || len(res.Forgotten) != 0 {
		t.Fatalf("second prune: %+v, %v", res, err)
	}
}

// failDeletes fails DeleteMany for keys under data/ until healed.
type failDeletes struct {
	remote.Store
	healed bool
}

func (f *failDeletes) DeleteMany(ctx context.Context, keys []string) error {
	if !f.healed && slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "data/") }) {
		return errors.New("connection reset")
	}
	return f.Store.DeleteMany(ctx, keys)
}

// TestPruneInterrupted: a prune that dies after forgetting leaves no kept
// snapshot naming a deleted object, and the rerun finishes the job.
func TestPruneInterrupted(t *testing.T) {
	ctx := context.Background()
	fs := &failDeletes{Store: remote.NewMemory()}
	h := newHistory3(t, fs)
	if _, err := Prune(ctx, fs, h.c, PruneOptions{Policy: Policy{KeepLast: 1}, Now: later}); err == nil {
		t.Fatal("prune succeeded although deletes failed")
	}
	chk, err := Check(ctx, fs, h.c, CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if chk.Damaged() || chk.Snapshots != 1 || len(chk.Unreferenced) == 0 {
		t.Fatalf("after the interrupted prune: damage %v, %d snapshots, %d unreferenced", chk.Damage, chk.Snapshots, len(chk.Unreferenced))
	}
	fs.healed = true
	res, err := Prune(ctx, fs, h.c, PruneOptions{Policy: Policy{KeepLast: 1}, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != len(chk.Unreferenced) {
		t.Fatalf("rerun deleted %d, %d were left", len(res.Deleted), len(chk.Unreferenced))
	}
	if _, err := fs.Stat(ctx, h.chat[0][0]); !errors.Is(err, remote.ErrNotFound) {
		t.Fatal("the rerun left an object only a forgotten snapshot used")
	}
}

// TestPruneRefusesWhenUnsure: a kept snapshot that does not load, or a
// damaged catalog entry, stops the prune before it deletes anything.
func TestPruneRefusesWhenUnsure(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(h *history3)
	}{
		{"kept snapshot's tree missing", func(h *history3) { h.s.Delete(ctx, h.snaps[1].Tree.Key) }},
		{"kept snapshot's tree tampered", func(h *history3) { flip(t, h.s, h.snaps[1].Tree.Key, 70) }},
		{"catalog entry tampered", func(h *history3) { flip(t, h.s, h.snaps[0].Key, 70) }},
		{"head tampered", func(h *history3) { flip(t, h.s, "head", 70) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Undamaged, the same prune has garbage to delete.
			ok := newHistory3(t, remote.NewMemory())
			if res, err := Prune(ctx, ok.s, ok.c, PruneOptions{Policy: Policy{KeepLast: 5}, Now: later}); err != nil || len(res.Deleted) == 0 {
				t.Fatalf("undamaged prune: %v, %v", res, err)
			}
			h := newHistory3(t, remote.NewMemory())
			tc.damage(h)
			before := keys(t, h.s, "")
			if _, err := Prune(ctx, h.s, h.c, PruneOptions{Policy: Policy{KeepLast: 5}, Now: later}); err == nil {
				t.Fatal("prune went ahead")
			}
			if !maps.Equal(before, keys(t, h.s, "")) {
				t.Fatal("a refused prune deleted objects")
			}
		})
	}
}

// TestPruneKeepsUnknownKeys: prune only deletes what sealfs writes.
func TestPruneKeepsUnknownKeys(t *testing.T) {
	ctx := context.Background()
	h := newHistory3(t, remote.NewMemory())
	for _, k := range []string{"data/README", "meta/notes.txt", "selftest/x", "lease"} {
		h.s.Put(ctx, k, []byte("x"), remote.PutOptions{})
	}
	if _, err := Prune(ctx, h.s, h.c, PruneOptions{Policy: Policy{KeepLast: 1}, Now: later}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"data/README", "meta/notes.txt", "selftest/x", "lease", "vault.json"} {
		if _, err := h.s.Stat(ctx, k); err != nil && k != "vault.json" {
			t.Errorf("prune deleted %s: %v", k, err)
		}
	}
}

// listHook runs fn once, when data/ is listed.
type listHook struct {
	remote.Store
	fn func()
}

func (l *listHook) List(ctx context.Context, prefix string, fn func(remote.ObjectInfo) error) error {
	if prefix == "data/" && l.fn != nil {
		hook := l.fn
		l.fn = nil
		hook()
	}
	return l.Store.List(ctx, prefix, fn)
}

// TestPruneStopsWhenHeadMoves: a writer that commits while prune works
// (one that ignored the lease) makes prune stop before deleting.
func TestPruneStopsWhenHeadMoves(t *testing.T) {
	ctx := context.Background()
	hook := &listHook{Store: remote.NewMemory()}
	h := newHistory3(t, hook)
	before := keys(t, hook, "data/")
	hook.fn = func() {
		h.write(meta.RootIno, "late.txt", []byte("written during the prune"))
		h.commit()
	}
	_, err := Prune(ctx, hook, h.c, PruneOptions{Policy: Policy{KeepLast: 1}, Now: later})
	if !errors.Is(err, ErrHeadMoved) {
		t.Fatalf("prune during a commit = %v, want ErrHeadMoved", err)
	}
	for k := range before {
		if _, err := hook.Stat(ctx, k); err != nil {
			t.Fatalf("prune deleted %s although head moved", k)
		}
	}
}

// TestPruneNoGraceIgnoresClocks: with no grace period ('prune --grace 0')
// every unreferenced object goes, even one the store stamped later than
// the prune's clock (a clock a second behind, as a whole-second HTTP date
// makes it, once left the garbage a snapshot had just made).
func TestPruneNoGraceIgnoresClocks(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	h := newHistory3(t, s)
	behind := func() time.Time { return time.Now().Add(-time.Hour) }
	res, err := Prune(ctx, s, h.c, PruneOptions{Policy: Policy{KeepLast: 1}, Grace: -1, Now: behind})
	if err != nil {
		t.Fatal(err)
	}
	if res.Young != 0 || len(res.Deleted) == 0 {
		t.Fatalf("no grace: deleted %d, kept %d as young", len(res.Deleted), res.Young)
	}
	chk, err := Check(ctx, s, h.c, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if chk.Damaged() || len(chk.Unreferenced) != 0 {
		t.Fatalf("check after prune: damage %v, unreferenced %d", chk.Damage, len(chk.Unreferenced))
	}
}

// TestPruneKeepsACommitInFlight: a metadata object numbered past the head
// is the upload of a commit another writer has not swapped in yet (or is
// swapping in right now): prune never deletes it, even with no grace
// period, while it deletes the older garbage beside it.
func TestPruneKeepsACommitInFlight(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	h := newHistory3(t, s)
	seq := h.l.Head().Seq
	inFlight := fmt.Sprintf("meta/%016x-0badc0de.jrnl", seq+1)
	garbage := fmt.Sprintf("meta/%016x-0badc0de.jrnl", seq)
	for _, k := range []string{inFlight, garbage} {
		if _, err := s.Put(ctx, k, []byte("a sealed batch"), remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Prune(ctx, s, h.c, PruneOptions{Policy: Policy{KeepLast: 1}, Grace: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, inFlight); err != nil {
		t.Errorf("prune deleted %s, numbered past the head %d: %v", inFlight, seq, err)
	}
	if _, err := s.Stat(ctx, garbage); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("prune kept %s, unreferenced and not past the head: %v", garbage, err)
	}
}

// TestPruneRefusesARolledBackStore: the head prune loads passes the
// catalog's CheckHead (this device's rollback check) before anything is
// read or deleted; a refused head stops the prune with nothing deleted.
func TestPruneRefusesARolledBackStore(t *testing.T) {
	ctx := context.Background()
	s := remote.NewMemory()
	h := newHistory3(t, s)
	before := keys(t, s, "")
	var checked []meta.Head
	c := New(s, h.k, Options{CheckHead: func(hd meta.Head) error {
		checked = append(checked, hd)
		return fmt.Errorf("seen a newer commit: %w", meta.ErrRollback)
	}})
	if _, err := Prune(ctx, s, c, PruneOptions{Policy: Policy{KeepLast: 1}, Grace: -1}); !errors.Is(err, meta.ErrRollback) {
		t.Fatalf("prune of a store this device saw newer: %v, want ErrRollback", err)
	}
	if len(checked) != 1 || !checked[0].SameCommit(h.l.Head()) {
		t.Errorf("CheckHead saw %+v, want the head once", checked)
	}
	if after := keys(t, s, ""); !maps.Equal(before, after) {
		t.Errorf("prune changed the store although it refused the head")
	}
	if _, err := Check(ctx, s, c, CheckOptions{}); !errors.Is(err, meta.ErrRollback) {
		t.Errorf("check of a store this device saw newer: %v, want ErrRollback", err)
	}
}
