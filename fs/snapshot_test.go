package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sealfs/sealfs/fs/history"
)

// TestSnapshots: each unmount names a snapshot, Mounted.Snapshot takes one
// on request, the schedule takes them while mounted, and a past snapshot
// mounts read-only with its old bytes.
func TestSnapshots(t *testing.T) {
	forEachStore(t, func(t *testing.T, v *testVault) {
		ctx := context.Background()
		cat := history.New(v.store, v.keys, history.Options{})
		list := func() []history.Snapshot {
			t.Helper()
			snaps, err := cat.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return snaps
		}
		v1, v2, v3 := pattern(1, testChunk+5), pattern(2, 3000), pattern(3, 10)

		mt := v.mount(t)
		if err := os.WriteFile(mt.path("db"), v1, 0o644); err != nil {
			t.Fatal(err)
		}
		onDemand, err := mt.m.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mt.path("db"), v2, 0o644); err != nil {
			t.Fatal(err)
		}
		mt.unmount(t)
		snaps := list()
		if len(snaps) != 2 || snaps[0].ID != onDemand.ID || snaps[0].Files != 1 || snaps[0].Bytes != uint64(len(v1)) {
			t.Fatalf("after Snapshot and unmount: %+v, want the on-demand one (1 file, %d bytes) then the unmount's", snaps, len(v1))
		}
		if snaps[1].Bytes != uint64(len(v2)) || snaps[1].Device != "test" {
			t.Fatalf("the unmount's snapshot: %+v", snaps[1])
		}

		// A schedule while mounted; an idle interval takes none.
		mt = v.mount(t, func(o *Options) { o.SnapshotEvery = 300 * time.Millisecond })
		if err := os.WriteFile(mt.path("db"), v3, 0o644); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a scheduled snapshot after a write", func() error {
			if n := len(list()); n < 3 {
				return fmt.Errorf("%d snapshots", n)
			}
			return nil
		})
		if n := len(list()); n != 3 {
			t.Fatalf("%d snapshots after one write, want one scheduled", n)
		}
		ticks := mt.m.Vault().Stats().SnapshotTicks
		eventually(t, "three more schedule ticks", func() error {
			if n := mt.m.Vault().Stats().SnapshotTicks - ticks; n < 3 {
				return fmt.Errorf("%d ticks", n)
			}
			return nil
		})
		if n := len(list()); n != 3 {
			t.Fatalf("idle schedule took %d more snapshots", n-3)
		}
		mt.unmount(t)

		// The first snapshot, mounted, shows v1 and refuses writes.
		old := v.mount(t, func(o *Options) { o.Snapshot = onDemand.ID })
		if got, err := os.ReadFile(old.path("db")); err != nil || !bytes.Equal(got, v1) {
			t.Fatalf("snapshot %s: db = %d bytes, %v; want v1 (%d bytes)", onDemand.ID, len(got), err, len(v1))
		}
		if err := os.WriteFile(old.path("new"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
			t.Fatalf("write to a mounted snapshot: %v, want EROFS", err)
		}
		if _, err := old.m.Snapshot(ctx); err == nil {
			t.Fatal("Snapshot of a mounted past snapshot succeeded")
		}
		old.unmount(t)
		if n := len(list()); n != 4 {
			t.Fatalf("%d snapshots; want 4 (mounting a past one adds none)", n)
		}
		if _, err := Open(ctx, Options{Store: v.store, Keys: v.keys, Snapshot: "ffffffff"}); !errors.Is(err, history.ErrNoSnapshot) {
			t.Fatalf("Open of an unknown snapshot = %v, want ErrNoSnapshot", err)
		}
	})
}
