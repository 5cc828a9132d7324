package meta

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

func metaKeys(t *testing.T, s remote.Store) []string {
	var keys []string
	err := s.List(context.Background(), "meta/", func(o remote.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestCleanup(t *testing.T) {
	ctx := context.Background()
	mem := remote.NewMemory()
	f := faults.New(mem)
	fx, l := newVault(t, f, LogOptions{SnapshotEvery: 2, CleanupGrace: time.Nanosecond, NoInline: true})
	for i := range 7 {
		must(t)(fx.t.Create(RootIno, "n"+itoa(i), 0o644, 0, 0, 10))
		if _, err := l.Commit(ctx, fx.t); err != nil {
			t.Fatal(err)
		}
	}
	// A crashed commit: its batch uploaded, the head swap failed.
	must(t)(fx.t.Create(RootIno, "crash", 0o644, 0, 0, 10))
	f.Inject(faults.Put, faults.Fail(faults.ErrServer).If(isHead))
	if _, err := l.Commit(ctx, fx.t); err == nil {
		t.Fatal("commit with a failing head put succeeded")
	}
	f.Clear()
	crashed := l.head.seq + 1
	if _, err := l.Commit(ctx, fx.t); err != nil {
		t.Fatal(err)
	}
	all := metaKeys(t, mem)
	live := []string{l.head.snapshot.key}
	for _, r := range l.head.journal {
		live = append(live, r.key)
	}
	var kept string
	for _, k := range all {
		if !slices.Contains(live, k) {
			kept = k // the newest dead one: protected by keep below
		}
	}
	if err := l.CleanupKeep(ctx, func(k string) bool { return k == kept }); err != nil {
		t.Fatal(err)
	}
	left := metaKeys(t, mem)
	if want := append(slices.Clone(live), kept); !sameSet(left, want) {
		t.Fatalf("after Cleanup %v, want %v (all were %v)", left, want, all)
	}
	for _, k := range left {
		if seq, _, _ := layout.ParseMetaKey(k); seq == crashed && !slices.Contains(live, k) && k != kept {
			t.Fatalf("crashed upload %s survived", k)
		}
	}
	got, _ := reopen(t, mem)
	sameTree(t, fx.t, got)

	// With the default grace nothing young is deleted.
	l.opts.CleanupGrace = DefaultCleanupGrace
	if err := l.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if after := metaKeys(t, mem); !sameSet(after, left) {
		t.Fatalf("Cleanup within the grace period deleted %v", after)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return strings.Join(a, ",") == strings.Join(b, ",")
}
