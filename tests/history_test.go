package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/remote"
)

// chatDB is version n of the chat database: a size no other file has, so
// the test can find its object in the bucket by size alone.
func chatDB(n int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("chat database, version %d. ", n)), 10000+n*1000)
}

// photo is photo n's content; each has its own size.
func photo(n int) []byte { return []byte(strings.Repeat("photo ", 3*n)) }

// bucketUsage counts the objects and bytes in the store.
func bucketUsage(t *testing.T, s remote.Store) (objects int, size int64, sizes map[string]int64) {
	t.Helper()
	sizes = map[string]int64{}
	err := s.List(context.Background(), "", func(o remote.ObjectInfo) error {
		objects++
		size += o.Size
		sizes[o.Key] = o.Size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objects, size, sizes
}

func TestHistoryS3(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	history(t, s3Store(t))
}

func TestHistoryDirectory(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	history(t, dirStore(t))
}

// history: three mount/write/unmount cycles leave three snapshots; the
// oldest mounts read-only with its old bytes; snapshots are taken on
// request through a running mount and directly; prune waits for the
// writer to unmount (exit 11); prune --keep-last 1 deletes what only old
// snapshots used and check --read-data is clean afterwards; a flipped byte
// or a deleted object makes check exit 12 and name the file and the
// snapshots.
func history(t *testing.T, st storeSetup) {
	pass := []string{"SEALFS_PASSPHRASE=keep my history"}
	d := newDevice(t, "phone", st.env)
	out := d.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)
	// The writing mounts unlock with the passphrase, the ~20 commands that
	// inspect and prune with the recovery key: the same unlock function
	// picks either, and the passphrase's Argon2 costs 0.4 s of CPU a run.
	rk := []string{"SEALFS_RECOVERY_KEY=" + parseRecoveryKey(t, out.stdout)}
	store := st.open(t)
	defer store.Close()

	for n := 1; n <= 3; n++ {
		mnt := d.mount(pass, st.location, "--device", "phone")
		writeFile(t, filepath.Join(mnt, "chat.db"), chatDB(n))
		if n <= 2 {
			if err := os.MkdirAll(filepath.Join(mnt, "media"), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(mnt, "media", fmt.Sprintf("photo%d.jpg", n)), photo(n))
		}
		d.ok(nil, "umount", mnt)
	}

	snaps := listSnapshots(t, d, rk, st.location, 3)
	for i, want := range []uint64{2, 3, 3} {
		if snaps[i].Files != want || snaps[i].Device != "phone" {
			t.Errorf("snapshot %d: %+v, want %d files by device phone", i, snaps[i], want)
		}
	}
	table := d.ok(rk, "snapshots", st.location).stdout
	for _, s := range snaps {
		if !strings.Contains(table, s.ID) {
			t.Errorf("the snapshots table lacks %s:\n%s", s.ID, table)
		}
	}

	// The oldest snapshot mounts read-only with the old bytes.
	old := d.mount(rk, st.location, "--snapshot", snaps[0].ID)
	if got := readFile(t, filepath.Join(old, "chat.db")); got != string(chatDB(1)) {
		t.Fatalf("the oldest snapshot shows chat.db of %d bytes, want version 1", len(got))
	}
	if _, err := os.Stat(filepath.Join(old, "media", "photo2.jpg")); err == nil {
		t.Fatal("the oldest snapshot shows a photo written later")
	}
	if err := os.WriteFile(filepath.Join(old, "new.txt"), []byte("x"), 0o644); err == nil {
		t.Fatal("writing into a mounted snapshot succeeded")
	}
	d.ok(nil, "umount", old)
	if r := d.run(rk, "mount", "--daemon", "--snapshot", "00000000", st.location, t.TempDir()); r.code == 0 || !strings.Contains(r.stderr, "00000000") {
		t.Fatalf("mounting an unknown snapshot: %s", r)
	}

	// On request: through the running mount, then directly; forget one.
	mnt := d.mount(rk, st.location, "--device", "phone")
	r := d.ok(nil, "snapshot", st.location) // no passphrase: the mount answers
	if !strings.Contains(r.stdout, "snapshot ") {
		t.Fatalf("snapshot through the mount: %s", r)
	}
	if r := d.run(rk, "prune", "--keep-last", "1", st.location); r.code != 11 {
		t.Fatalf("prune while a writer has the vault mounted: want exit 11, got %s", r)
	}
	d.ok(nil, "umount", mnt)
	d.ok(rk, "snapshot", st.location)
	snaps = listSnapshots(t, d, rk, st.location, 6)
	d.ok(rk, "forget", st.location, snaps[3].ID)
	snaps = listSnapshots(t, d, rk, st.location, 5)

	// prune --keep-last 1: count and bytes in the bucket go down.
	objBefore, bytesBefore, _ := bucketUsage(t, store)
	dry := d.ok(rk, "prune", "--keep-last", "1", "--grace", "0", "--dry-run", st.location)
	if n, b, _ := bucketUsage(t, store); n != objBefore || b != bytesBefore {
		t.Fatalf("prune --dry-run changed the bucket:\n%s", dry.stdout)
	}
	d.ok(rk, "prune", "--keep-last", "1", "--grace", "0", st.location)
	objAfter, bytesAfter, sizes := bucketUsage(t, store)
	t.Logf("prune --keep-last 1: %d objects, %d bytes -> %d objects, %d bytes", objBefore, bytesBefore, objAfter, bytesAfter)
	if objAfter >= objBefore || bytesAfter >= bytesBefore {
		t.Fatalf("prune did not shrink the bucket: %d objects, %d bytes -> %d, %d", objBefore, bytesBefore, objAfter, bytesAfter)
	}
	// chat.db versions 1 and 2 are gone, version 3 is there.
	for n := 1; n <= 3; n++ {
		found := objectOfSize(sizes, len(chatDB(n))) != ""
		if found != (n == 3) {
			t.Errorf("after prune, chat.db version %d's object present = %v", n, found)
		}
	}
	kept := listSnapshots(t, d, rk, st.location, 1)
	if kept[0].ID != snaps[4].ID {
		t.Fatalf("prune kept %s, want the newest %s", kept[0].ID, snaps[4].ID)
	}
	chk := d.ok(rk, "check", "--read-data", st.location)
	if !strings.Contains(chk.stdout, "no damage found") || strings.Contains(chk.stdout, "unreferenced") {
		t.Fatalf("check after prune:\n%s", chk.stdout)
	}
	cur := d.mount(rk, st.location, "--read-only")
	if got := readFile(t, filepath.Join(cur, "chat.db")); got != string(chatDB(3)) {
		t.Fatal("after prune the current chat.db is not version 3")
	}
	for n := 1; n <= 2; n++ {
		if got := readFile(t, filepath.Join(cur, "media", fmt.Sprintf("photo%d.jpg", n))); got != string(photo(n)) {
			t.Fatalf("after prune photo%d.jpg = %q", n, got)
		}
	}
	d.ok(nil, "umount", cur)

	// A flipped byte in chat.db's object: only --read-data sees it, and
	// names the file in the current files and the kept snapshot.
	key := objectOfSize(sizes, len(chatDB(3)))
	orig, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(orig)
	bad[len(bad)/2] ^= 1
	put(t, store, key, bad)
	d.ok(rk, "check", st.location) // sizes are intact
	r = d.run(rk, "check", "--read-data", st.location)
	assertDamage(t, r, "/chat.db", kept[0].ID, key)
	put(t, store, key, orig)
	d.ok(rk, "check", "--read-data", st.location)

	// A deleted object: check without --read-data finds it.
	photo1 := objectOfSize(sizes, len(photo(1)))
	if err := store.Delete(context.Background(), photo1); err != nil {
		t.Fatal(err)
	}
	r = d.run(rk, "check", st.location)
	assertDamage(t, r, "/media/photo1.jpg", kept[0].ID, photo1)
}

// listSnapshots runs snapshots --json, checks its shape and order, and
// returns the entries.
func listSnapshots(t *testing.T, d *device, env []string, store string, want int) []snapshotEntry {
	t.Helper()
	out := d.ok(env, "snapshots", "--json", store).stdout
	var raw []map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("snapshots --json is not a JSON array: %v\n%s", err, out)
	}
	if len(raw) != want {
		t.Fatalf("%d snapshots, want %d:\n%s", len(raw), want, out)
	}
	var snaps []snapshotEntry
	for _, m := range raw {
		if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, []string{"bytes", "device", "files", "id", "time"}) {
			t.Fatalf("snapshot object has keys %v, want exactly id, time, device, files, bytes", keys)
		}
	}
	if err := json.Unmarshal([]byte(out), &snaps); err != nil {
		t.Fatal(err)
	}
	for i, s := range snaps {
		tm, err := time.Parse(time.RFC3339, s.Time)
		if err != nil || len(s.ID) != 8 || s.Bytes == 0 {
			t.Fatalf("snapshot %+v: time %v, want an 8-character id, RFC 3339 time and bytes", s, err)
		}
		if i > 0 {
			prev, _ := time.Parse(time.RFC3339, snaps[i-1].Time)
			if tm.Before(prev) {
				t.Fatalf("snapshots not oldest first: %s before %s", s.Time, snaps[i-1].Time)
			}
		}
	}
	return snaps
}

type snapshotEntry struct {
	ID     string `json:"id"`
	Time   string `json:"time"`
	Device string `json:"device"`
	Files  uint64 `json:"files"`
	Bytes  uint64 `json:"bytes"`
}

// objectOfSize finds the data object holding n plaintext bytes.
// objectOfSize finds the data object holding a file of n bytes (one chunk
// at most), by its sealed size: fs pads short objects to their Padmé size.
func objectOfSize(sizes map[string]int64, n int) string {
	want := crypt.ObjectCipherSize(min(crypt.PaddedSize(int64(n)), crypt.DefaultChunkSize))
	for k, sz := range sizes {
		if strings.HasPrefix(k, "data/") && sz == want {
			return k
		}
	}
	return ""
}

func put(t *testing.T, s remote.Store, key string, data []byte) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, data, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
}

// assertDamage checks that check exited 12 and named the file in the
// current files and the snapshot, and the object.
func assertDamage(t *testing.T, r result, path, snapshot, key string) {
	t.Helper()
	if r.code != 12 {
		t.Fatalf("check on damage: want exit 12, got %s", r)
	}
	var lines []string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "damaged: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one damaged line, got:\n%s", r.stdout)
	}
	for _, want := range []string{path + " ", "current", snapshot, key} {
		if !strings.Contains(lines[0], want) {
			t.Fatalf("damage line %q does not name %q", lines[0], want)
		}
	}
}
