package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// bucketState is every object of a vault, by key: a copy of the bucket at
// one moment, which a tamper case edits and puts into a fresh bucket.
type bucketState map[string][]byte

func (b bucketState) clone() bucketState {
	c := bucketState{}
	for k, v := range b {
		c[k] = bytes.Clone(v)
	}
	return c
}

// tamperFixture is a vault written by the real binary on MinIO at three
// moments, with the content every file had at each.
type tamperFixture struct {
	env    map[string]string
	pass   []string
	rk     string  // the recovery key
	writer *device // the device that wrote everything and saw the newest head
	keys   *crypt.Keys
	// first: after the first clean unmount. live: during the second mount,
	// after two fsyncs, so head names journal batches on top of a snapshot
	// (and the writer still holds the lease). final: after the second
	// clean unmount.
	first, live, final                bucketState
	firstFiles, liveFiles, finalFiles map[string][]byte
}

// writeTamperFixture makes the fixture: plain chat-backup files, one of
// them rewritten in the second mount (so its old chunks are an "older
// version" still in the bucket), files of several chunks (4 MiB each).
func writeTamperFixture(t *testing.T) *tamperFixture {
	srv := s3test.Server(t)
	bucket := s3test.NewBucket(t)
	loc := "s3://" + bucket + "/vault"
	fx := &tamperFixture{
		env: map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
			"AWS_ENDPOINT_URL": srv.Endpoint, "AWS_REGION": "us-east-1"},
		pass: []string{"SEALFS_PASSPHRASE=tamper table passphrase"},
	}
	fx.writer = newDevice(t, "writer", fx.env)
	out := fx.writer.ok(fx.pass, append(append([]string{"init"}, fastKDF...), loc)...)
	fx.rk = parseRecoveryKey(t, out.stdout)
	store := s3test.OpenStore(t, bucket, "vault")

	files := map[string][]byte{
		"msgstore.db":              tamperContent(1, 4<<20+70_000), // two chunks
		"media/IMG-0001.jpg":       tamperContent(2, 300_000),
		"media/IMG-0002.jpg":       tamperContent(3, 200_001),
		"media/VID-0003.mp4":       tamperContent(4, 2*(4<<20)+5), // three chunks
		"notes.txt":                []byte("call mum on sunday\n"),
		"Backups/wa.db.crypt15":    tamperContent(5, 65_536),
		"Backups/old/wa.db.crypt1": tamperContent(6, 1),
	}
	mnt := fx.writer.mount(fx.pass, loc, "--device", "writer")
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mnt, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(mnt, name), data)
	}
	fx.writer.ok(nil, "umount", mnt)
	fx.first, fx.firstFiles = dumpBucket(t, store), maps.Clone(files)

	// The nightly rewrite: new content through a temporary file renamed over
	// the old one, then a new photo; each fsynced, so each is a commit.
	mnt = fx.writer.mount(fx.pass, loc, "--device", "writer")
	files["msgstore.db"] = tamperContent(7, 4<<20+80_000)
	writeFile(t, filepath.Join(mnt, "msgstore.db.tmp"), files["msgstore.db"])
	if err := os.Rename(filepath.Join(mnt, "msgstore.db.tmp"), filepath.Join(mnt, "msgstore.db")); err != nil {
		t.Fatal(err)
	}
	files["media/IMG-0004.jpg"] = tamperContent(8, 123_457)
	writeFile(t, filepath.Join(mnt, "media/IMG-0004.jpg"), files["media/IMG-0004.jpg"])
	fx.live, fx.liveFiles = dumpBucket(t, store), maps.Clone(files)
	fx.writer.ok(nil, "umount", mnt)
	fx.final, fx.finalFiles = dumpBucket(t, store), files

	v, err := crypt.ParseVault(fx.final["vault.json"])
	if err != nil {
		t.Fatal(err)
	}
	master, err := v.UnlockPassphrase([]byte(strings.TrimPrefix(fx.pass[0], "SEALFS_PASSPHRASE=")))
	if err != nil {
		t.Fatal(err)
	}
	fx.keys = crypt.DeriveKeys(master, v.Suite(), v.ChunkSize())
	return fx
}

// tamperContent is n distinct pseudo-random bytes for one seed.
func tamperContent(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// dumpBucket reads every object of store.
func dumpBucket(t *testing.T, store remote.Store) bucketState {
	t.Helper()
	ctx := context.Background()
	st := bucketState{}
	err := store.List(ctx, "", func(info remote.ObjectInfo) error {
		data, _, err := store.Get(ctx, info.Key)
		st[info.Key] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// analysis is what the test knows about one bucket state by opening it
// with the keys: the metadata chain head names and the data objects of
// every file.
type analysis struct {
	head    meta.Head
	chain   []meta.ObjectRef    // snapshot first, then the journal batches
	objects map[string][]string // data key -> paths of the files using it
	ofFile  map[string][]string // path -> its data keys, in file order
}

func (fx *tamperFixture) analyze(t *testing.T, st bucketState) *analysis {
	t.Helper()
	ctx := context.Background()
	mem := remote.NewMemory()
	for k, v := range st {
		if _, err := mem.Put(ctx, k, v, remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tree, log, err := meta.Open(ctx, mem, fx.keys, meta.LogOptions{})
	if err != nil {
		t.Fatalf("the untouched state does not open: %v", err)
	}
	a := &analysis{head: log.Head(), chain: log.Chain(), objects: map[string][]string{}, ofFile: map[string][]string{}}
	var walk func(dir meta.Ino, prefix string)
	walk = func(dir meta.Ino, prefix string) {
		ents, err := tree.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := path.Join(prefix, e.Name)
			ino, _ := tree.Get(e.Ino)
			if e.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				walk(e.Ino, p)
				continue
			}
			for _, x := range ino.Extents {
				if !x.IsHole() {
					k := meta.DataKey(x.Object)
					a.objects[k] = append(a.objects[k], p)
					a.ofFile[p] = append(a.ofFile[p], k)
				}
			}
		}
	}
	walk(meta.RootIno, "")
	return a
}

// chainKey returns the key of the snapshot (kind "snap") or of the last
// journal batch (kind "jrnl") head names.
func (a *analysis) chainKey(t *testing.T, kind string) string {
	t.Helper()
	for i := len(a.chain) - 1; i >= 0; i-- {
		if strings.HasSuffix(a.chain[i].Key, "."+kind) {
			return a.chain[i].Key
		}
	}
	t.Fatalf("head names no %s object: %+v", kind, a.chain)
	return ""
}

func flipByte(b []byte, at int) []byte {
	if at < 0 {
		at += len(b)
	}
	b = bytes.Clone(b)
	b[at] ^= 0x40
	return b
}

// tamperCase edits a copy of one bucket state and says what a user must
// then see.
type tamperCase struct {
	name string
	base string // "first", "live" or "final"
	// edit changes st; it returns the files that must now fail with EIO.
	edit func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) (affected []string)
	// refused: the mount must be refused, with one "sealfs: error:" line
	// containing each fragment (case-insensitive).
	refused    []string
	readOnly   bool   // mount read-only (the live state's lease is held)
	sameDevice bool   // mount on the writer device, which saw the newest head
	recovery   bool   // unlock with the recovery key instead of the passphrase
	mayRead    bool   // affected files may also read back right
	wantFiles  string // expected files if not those of base: "first"
	damaged    string // what "sealfs check" names besides the affected files
}

// onData edits the data objects chosen by pick (given the analysis).
func onData(pick func(a *analysis) []string, edit func(st bucketState, keys []string)) func(*testing.T, *tamperFixture, *analysis, bucketState) []string {
	return func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
		keys := pick(a)
		var affected []string
		for _, k := range keys {
			if _, ok := st[k]; !ok {
				t.Fatalf("data object %s is not in the bucket", k)
			}
			affected = append(affected, a.objects[k]...)
		}
		edit(st, keys)
		return affected
	}
}

// chunkOf picks data object i of file p.
func chunkOf(p string, i int) func(a *analysis) []string {
	return func(a *analysis) []string { return []string{a.ofFile[p][i]} }
}

func setEach(f func(b []byte) []byte) func(st bucketState, keys []string) {
	return func(st bucketState, keys []string) {
		for _, k := range keys {
			st[k] = f(st[k])
		}
	}
}

// onKey edits one named object (not data) and affects no file by itself.
func onKey(key func(t *testing.T, a *analysis) string, f func(st bucketState, k string)) func(*testing.T, *tamperFixture, *analysis, bucketState) []string {
	return func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
		k := key(t, a)
		if _, ok := st[k]; !ok {
			t.Fatalf("object %s is not in the bucket", k)
		}
		f(st, k)
		return nil
	}
}

func fixed(k string) func(*testing.T, *analysis) string {
	return func(*testing.T, *analysis) string { return k }
}
func snapKey(t *testing.T, a *analysis) string { return a.chainKey(t, "snap") }
func jrnlKey(t *testing.T, a *analysis) string { return a.chainKey(t, "jrnl") }
func flipAt(at int) func(bucketState, string) {
	return func(st bucketState, k string) { st[k] = flipByte(st[k], at) }
}
func truncTo(n int) func(bucketState, string) {
	return func(st bucketState, k string) { st[k] = st[k][:min(n, len(st[k]))] }
}
func del(st bucketState, k string) { delete(st, k) }

var tamperCases = []tamperCase{
	// Range reads never fetch the 18-byte header: they authenticate each
	// segment against the header rebuilt from the metadata. So the file
	// may read right (the edited bytes are never used) or fail.
	{name: "data chunk: byte flipped in the header", base: "final", mayRead: true,
		edit: onData(chunkOf("media/IMG-0001.jpg", 0), setEach(func(b []byte) []byte { return flipByte(b, 3) }))},
	{name: "data chunk: byte flipped in a middle segment", base: "final",
		edit: onData(chunkOf("media/VID-0003.mp4", 1), setEach(func(b []byte) []byte { return flipByte(b, len(b)/2) }))},
	{name: "data chunk: last byte (tag) flipped", base: "final",
		edit: onData(chunkOf("msgstore.db", 1), setEach(func(b []byte) []byte { return flipByte(b, -1) }))},
	{name: "data chunk: truncated by one segment", base: "final",
		edit: onData(chunkOf("media/VID-0003.mp4", 0), setEach(func(b []byte) []byte { return b[:len(b)-(64<<10)] }))},
	{name: "data chunk: truncated to its header", base: "final",
		edit: onData(chunkOf("notes.txt", 0), setEach(func(b []byte) []byte { return b[:min(len(b), 40)] }))},
	{name: "data chunk: deleted", base: "final",
		edit: onData(chunkOf("Backups/wa.db.crypt15", 0), func(st bucketState, keys []string) { delete(st, keys[0]) })},
	{name: "data chunks: two objects of different files swapped", base: "final",
		edit: onData(func(a *analysis) []string {
			return []string{a.ofFile["media/IMG-0001.jpg"][0], a.ofFile["media/IMG-0002.jpg"][0]}
		}, func(st bucketState, k []string) { st[k[0]], st[k[1]] = st[k[1]], st[k[0]] })},
	{name: "data chunks: two objects of one file swapped", base: "final",
		edit: onData(func(a *analysis) []string {
			return []string{a.ofFile["media/VID-0003.mp4"][0], a.ofFile["media/VID-0003.mp4"][2]}
		}, func(st bucketState, k []string) { st[k[0]], st[k[1]] = st[k[1]], st[k[0]] })},
	{name: "data chunk: replaced by the older version of the rewritten file", base: "final",
		edit: func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
			old := fx.analyze(t, fx.first).ofFile["msgstore.db"][0]
			cur := a.ofFile["msgstore.db"][0]
			if old == cur || st[old] == nil {
				t.Fatalf("the rewrite did not leave an older chunk (%s, %s)", old, cur)
			}
			st[cur] = bytes.Clone(st[old])
			return []string{"msgstore.db"}
		}},
	{name: "meta snapshot: byte flipped", base: "final", refused: []string{"metadata"},
		edit: onKey(snapKey, flipAt(100))},
	{name: "meta snapshot: truncated", base: "final", refused: []string{"metadata"},
		edit: onKey(snapKey, truncTo(50))},
	{name: "meta snapshot: deleted", base: "final", refused: []string{"metadata"},
		edit: onKey(snapKey, del)},
	{name: "meta snapshot: replaced by an older snapshot", base: "final", refused: []string{"metadata"},
		edit: func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
			old := fx.analyze(t, fx.first).chainKey(t, "snap")
			st[a.chainKey(t, "snap")] = bytes.Clone(st[old])
			return nil
		}},
	{name: "journal batch: byte flipped", base: "live", readOnly: true, refused: []string{"metadata"},
		edit: onKey(jrnlKey, flipAt(-20))},
	{name: "journal batch: deleted", base: "live", readOnly: true, refused: []string{"metadata"},
		edit: onKey(jrnlKey, del)},
	{name: "journal batch: replaced by the batch before it", base: "live", readOnly: true, refused: []string{"metadata"},
		edit: func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
			n := len(a.chain)
			if n < 3 {
				t.Fatalf("head names fewer than two batches: %+v", a.chain)
			}
			st[a.chain[n-1].Key] = bytes.Clone(st[a.chain[n-2].Key])
			return nil
		}},
	{name: "head: byte flipped", base: "final", refused: []string{"head"},
		edit: onKey(fixed("head"), flipAt(30))},
	{name: "head: truncated", base: "final", refused: []string{"head"},
		edit: onKey(fixed("head"), truncTo(20))},
	{name: "head: deleted", base: "final", refused: []string{"head", "missing", "tampered"},
		edit: onKey(fixed("head"), del)},
	{name: "head: rolled back, the device that saw the newer one", base: "final", sameDevice: true,
		refused: []string{"rolled back", "--accept-rollback"},
		edit: func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
			st["head"] = bytes.Clone(fx.first["head"])
			return nil
		}},
	{name: "head: rolled back, a brand-new device (cannot tell: sees the older commit exactly)", base: "final", wantFiles: "first",
		edit: func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
			st["head"] = bytes.Clone(fx.first["head"])
			return nil
		}},
	{name: "lease: byte flipped (read-write refused)", base: "final", refused: []string{"lease", "--force"},
		edit: onKey(fixed("lease"), flipAt(-3))},
	{name: "lease: byte flipped (read-only still reads)", base: "final", readOnly: true,
		edit: onKey(fixed("lease"), flipAt(-3))},
	{name: "vault.json: byte flipped in the MAC", base: "final", refused: []string{"vault.json", "modified"},
		edit: onKey(fixed("vault.json"), editVault(`"mac": "`, flipHex))},
	{name: "vault.json: truncated", base: "final", refused: []string{"vault.json", "damaged"},
		edit: onKey(fixed("vault.json"), truncTo(100))},
	{name: "vault.json: deleted", base: "final", refused: []string{"no sealfs vault"},
		edit: onKey(fixed("vault.json"), del)},
	{name: "vault.json: argon2id memory lowered below the minimum", base: "final", refused: []string{"memory", "minimum"},
		edit: onKey(fixed("vault.json"), editVault(`"memory_mib": `, func(string) string { return "8" }))},
	{name: "vault.json: argon2id time raised (passphrase)", base: "final", refused: []string{"passphrase"},
		edit: onKey(fixed("vault.json"), editVault(`"time": `, func(string) string { return "3" }))},
	{name: "vault.json: argon2id time raised (recovery key)", base: "final", refused: []string{"vault.json", "modified"}, recovery: true,
		edit: onKey(fixed("vault.json"), editVault(`"time": `, func(string) string { return "3" }))},
	{name: "vault.json: chunk size edited", base: "final", refused: []string{"vault.json", "modified"},
		edit: onKey(fixed("vault.json"), editVault(`"chunk_size": `, func(string) string { return "65536" }))},
	{name: "snapshot catalog record: byte flipped", base: "final", damaged: "snapshots/",
		edit: func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
			for k := range st {
				if strings.HasPrefix(k, "snapshots/") {
					st[k] = flipByte(st[k], -5)
					return nil
				}
			}
			t.Fatal("no snapshot catalog record in the bucket")
			return nil
		}},
}

// editVault replaces the value after the first occurrence of field (a
// JSON key with its colon, and the opening quote for strings).
func editVault(field string, f func(old string) string) func(bucketState, string) {
	return func(st bucketState, k string) {
		s := string(st[k])
		i := strings.Index(s, field)
		if i < 0 {
			panic("tests: vault.json has no " + field)
		}
		i += len(field)
		j := i + strings.IndexAny(s[i:], "\",}\n ")
		st[k] = []byte(s[:i] + f(s[i:j]) + s[j:])
	}
}

// flipHex changes the first hex digit of s.
func flipHex(s string) string {
	d := "1"
	if s[0] == '1' {
		d = "2"
	}
	return d + s[1:]
}

// TestTamper: a hostile bucket edits objects after a commit. Every case
// ends one of two ways: the mount is refused with one clear line, or it
// mounts and every file reads back its exact bytes or EIO, never other
// bytes, and EIO only in the files whose objects were edited; "sealfs
// check --read-data" then names exactly those files. Last, an app writes
// into files with a damaged chunk (writeIntoDamage).
func TestTamper(t *testing.T) {
	requireFUSE(t)
	fx := writeTamperFixture(t)
	bases := map[string]bucketState{"first": fx.first, "live": fx.live, "final": fx.final}
	files := map[string]map[string][]byte{"first": fx.firstFiles, "live": fx.liveFiles, "final": fx.finalFiles}
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			base := bases[tc.base]
			st := base.clone()
			affected := tc.edit(t, fx, fx.analyze(t, base), st)
			loc := fx.upload(t, st)

			dev := newDevice(t, "reader", fx.env)
			var flags []string
			if tc.readOnly {
				flags = append(flags, "--read-only")
			}
			if tc.sameDevice {
				flags = append(flags, "--cache-dir", fx.writerState(t))
			}
			unlock := fx.pass
			if tc.recovery {
				unlock = []string{"SEALFS_RECOVERY_KEY=" + fx.rk}
			}
			if tc.refused != nil {
				expectRefused(t, tc.name, dev, unlock, loc, flags, tc.refused)
				return
			}
			mnt := dev.mount(unlock, loc, flags...)
			want := files[tc.base]
			if tc.wantFiles != "" {
				want = files[tc.wantFiles]
			}
			checkReads(t, tc.name, mnt, want, affected, tc.mayRead)
			dev.ok(nil, "umount", mnt)
			checkNamesDamage(t, tc.name, dev, unlock, loc, affected, tc.damaged)
		})
	}
	for _, wc := range writeIntoDamage {
		t.Run(wc.name, func(t *testing.T) { writeIntoDamaged(t, fx, wc) })
	}
}

// upload puts st into a fresh bucket and returns its location.
func (fx *tamperFixture) upload(t *testing.T, st bucketState) string {
	t.Helper()
	bucket := s3test.NewBucket(t)
	store := s3test.OpenStore(t, bucket, "vault")
	for k, v := range st {
		if _, err := store.Put(context.Background(), k, v, remote.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return "s3://" + bucket + "/vault"
}

// writerState copies the writer device's local state (its high-water
// mark) into a cache directory for a mount of a copy of its bucket.
func (fx *tamperFixture) writerState(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(fx.writer.cacheDir(), "sealfs", "*"))
	if len(dirs) != 1 {
		t.Fatalf("the writer has %d vault cache directories, want 1", len(dirs))
	}
	dst := filepath.Join(t.TempDir(), "cache")
	if err := os.CopyFS(dst, os.DirFS(dirs[0])); err != nil {
		t.Fatal(err)
	}
	return dst
}

// expectRefused mounts and wants a refusal: non-zero exit, one
// "sealfs: error:" line naming each fragment, no mount left behind.
func expectRefused(t *testing.T, name string, d *device, env []string, loc string, flags, fragments []string) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	r := d.run(env, append(append([]string{"mount", "--daemon"}, flags...), loc, mnt)...)
	if isMounted(mnt) {
		d.run(nil, "umount", mnt)
		t.Fatalf("%s: the tampered vault was mounted: %s", name, r)
	}
	t.Logf("%s: %s", name, strings.TrimSpace(r.stderr))
	msg := strings.TrimSpace(r.stderr)
	if r.code == 0 || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "sealfs: error: ") {
		t.Fatalf("%s: want a refusal with one 'sealfs: error:' line, got %s", name, r)
	}
	for _, f := range fragments {
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(f)) {
			t.Errorf("%s: the refusal %q does not mention %q", name, msg, f)
		}
	}
}

// checkNamesDamage runs "sealfs check --read-data" after the unmount: it
// must name exactly the affected files (and the damaged object the case
// expects), or find nothing.
func checkNamesDamage(t *testing.T, name string, d *device, unlock []string, loc string, affected []string, other string) {
	t.Helper()
	r := d.run(unlock, "check", "--read-data", loc)
	var got, want []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, "damaged: "); ok {
			got = append(got, strings.TrimPrefix(strings.Fields(rest)[0], "/"))
		}
	}
	want = append(want, affected...)
	if other != "" {
		for _, g := range got {
			if strings.HasPrefix(g, other) {
				want = append(want, g)
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	got, want = slices.Compact(got), slices.Compact(want)
	switch {
	case len(want) == 0 && r.code != 0:
		t.Errorf("%s: check finds damage where there is none: %s", name, r)
	case len(want) > 0 && (r.code != 12 || !slices.Equal(got, want)):
		t.Errorf("%s: check names %v (exit %d), want %v:\n%s", name, got, r.code, want, r)
	case other != "" && len(want) == len(affected):
		t.Errorf("%s: check does not name a damaged %s object:\n%s", name, other, r)
	}
}

// checkReads walks the mount: exactly the wanted files exist with their
// sizes; each reads back, 64 KiB at a time, its exact bytes or EIO; the
// affected files fail somewhere and no other file fails anywhere.
func checkReads(t *testing.T, name, mnt string, want map[string][]byte, affected []string, mayRead bool) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(mnt, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(mnt, p)
			got = append(got, rel)
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s: listing the mount: %v", name, err)
	}
	if w := slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
		t.Errorf("%s: files %v, want %v", name, got, w)
	}
	bad := map[string]bool{}
	for _, p := range affected {
		bad[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		failed, err := readBlocks(filepath.Join(mnt, p), want[p])
		switch {
		case err != nil:
			t.Errorf("%s: %s: %v", name, p, err)
		case bad[p] && failed == 0 && !mayRead:
			t.Errorf("%s: %s uses an edited object but read back without error", name, p)
		case !bad[p] && failed > 0:
			t.Errorf("%s: %s was not edited but %d blocks failed with EIO", name, p, failed)
		}
	}
	if len(affected) > 0 {
		t.Logf("%s: EIO in %v only", name, slices.Compact(slices.Sorted(slices.Values(affected))))
	}
}

// writeCase changes a file one of whose chunks was tampered with.
type writeCase struct {
	name  string
	file  string
	chunk int // which chunk of file is damaged
	at    func(n int) int
	// change applies the change to the open file and returns the file's
	// content if it succeeds, from its old content.
	change func(f *os.File, old []byte) ([]byte, error)
}

func patchAt(off int) func(*os.File, []byte) ([]byte, error) {
	return func(f *os.File, old []byte) ([]byte, error) {
		p := []byte("PATCHED BY THE APP")
		next := bytes.Clone(old)
		copy(next[off:], p)
		_, err := f.WriteAt(p, int64(off))
		return next, err
	}
}

var writeIntoDamage = []writeCase{
	{name: "write: patch an intact segment of a damaged chunk", file: "media/VID-0003.mp4", chunk: 1,
		at: func(n int) int { return n / 2 }, change: patchAt(4<<20 + 10)},
	{name: "write: patch the damaged segment itself", file: "media/VID-0003.mp4", chunk: 1,
		at: func(n int) int { return n / 2 }, change: patchAt(4<<20 + 2<<20 + 5)},
	{name: "write: append to a file whose last chunk is damaged", file: "msgstore.db", chunk: 1,
		at: func(n int) int { return n / 2 }, change: func(f *os.File, old []byte) ([]byte, error) {
			add := []byte("appended after the damage")
			_, err := f.WriteAt(add, int64(len(old)))
			return append(bytes.Clone(old), add...), err
		}},
	{name: "write: truncate into a damaged chunk", file: "msgstore.db", chunk: 1,
		at: func(n int) int { return n / 2 }, change: func(f *os.File, old []byte) ([]byte, error) {
			n := 4<<20 + 30_000
			return bytes.Clone(old[:n]), f.Truncate(int64(n))
		}},
}

// writeIntoDamaged: an app that writes into a file with a tampered chunk
// gets EIO or success, and afterwards (live, and on a new device after the
// unmount) every block of the file reads as the old or the new content, or
// EIO: the damage is never papered over with zeros or stale bytes.
func writeIntoDamaged(t *testing.T, fx *tamperFixture, wc writeCase) {
	st := fx.final.clone()
	k := fx.analyze(t, fx.final).ofFile[wc.file][wc.chunk]
	st[k] = flipByte(st[k], wc.at(len(st[k])))
	loc := fx.upload(t, st)
	dev := newDevice(t, "reader", fx.env)
	mnt := dev.mount(fx.pass, loc)
	old := fx.finalFiles[wc.file]
	f, err := os.OpenFile(filepath.Join(mnt, wc.file), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("%s: open: %v", wc.name, err)
	}
	next, err := wc.change(f, old)
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	t.Logf("%s: the change returned %v", wc.name, err)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Errorf("%s: the change failed with %v, want EIO or success", wc.name, err)
	}
	if err := readEither(filepath.Join(mnt, wc.file), old, next); err != nil {
		t.Errorf("%s: live mount: %v", wc.name, err)
	}
	r := dev.run(nil, "umount", mnt)
	t.Logf("%s: umount: %s", wc.name, r)
	if isMounted(mnt) {
		t.Fatalf("%s: the mount is still there after umount: %s", wc.name, r)
	}
	other := newDevice(t, "new device", fx.env)
	mnt = other.mount(fx.pass, loc, "--read-only")
	if err := readEither(filepath.Join(mnt, wc.file), old, next); err != nil {
		t.Errorf("%s: new device: %v", wc.name, err)
	}
	for p, want := range fx.finalFiles {
		if p != wc.file {
			if _, err := readBlocks(filepath.Join(mnt, p), want); err != nil {
				t.Errorf("%s: untouched %s: %v", wc.name, p, err)
			}
		}
	}
	other.ok(nil, "umount", mnt)
}

// readEither reads p in 64 KiB blocks: its size is that of one version,
// and each block is EIO or equals that block of a version.
func readEither(p string, versions ...[]byte) error {
	data, err := os.Open(p)
	if err != nil {
		return err
	}
	defer data.Close()
	st, err := data.Stat()
	if err != nil {
		return err
	}
	var same [][]byte
	for _, v := range versions {
		if int64(len(v)) == st.Size() {
			same = append(same, v)
		}
	}
	if len(same) == 0 {
		return fmt.Errorf("size %d is none of the versions'", st.Size())
	}
	const block = 64 << 10
	buf := make([]byte, block)
	failed := 0
	for off := 0; off < int(st.Size()); off += block {
		n, err := data.ReadAt(buf, int64(off))
		if errors.Is(err, syscall.EIO) {
			failed++
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		if !slices.ContainsFunc(same, func(v []byte) bool { return bytes.Equal(buf[:n], v[off:min(off+block, len(v))]) }) {
			return fmt.Errorf("WRONG BYTES at %d: neither the old nor the new content", off)
		}
	}
	if failed == 0 {
		return fmt.Errorf("no block failed: the damaged chunk was silently replaced")
	}
	return nil
}

// readBlocks reads p in 64 KiB blocks and returns how many failed with
// EIO; any other error, a wrong size or a wrong byte is an error.
func readBlocks(p string, want []byte) (failed int, err error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != int64(len(want)) {
		return 0, fmt.Errorf("stat: size %v (%v), want %d", st.Size(), err, len(want))
	}
	const block = 64 << 10
	buf := make([]byte, block)
	for off := 0; off < len(want); off += block {
		n, err := f.ReadAt(buf, int64(off))
		end := min(off+block, len(want))
		switch {
		case errors.Is(err, syscall.EIO):
			failed++
			continue
		case err != nil && err != io.EOF:
			return failed, fmt.Errorf("read at %d: %w (want EIO or the bytes)", off, err)
		case n != end-off:
			return failed, fmt.Errorf("read at %d: %d bytes, want %d", off, n, end-off)
		case !bytes.Equal(buf[:n], want[off:end]):
			return failed, fmt.Errorf("WRONG BYTES returned at %d", off)
		}
	}
	return failed, nil
}
