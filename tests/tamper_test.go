package tests

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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
	readOnly   bool // mount read-only (the live state's lease is held)
	sameDevice bool // mount on the writer device, which saw the newest head
	// passphrase: unlock with the passphrase (Argon2 runs), as for
	// vault.json whose KDF and slots are what the case edits; the other
	// cases unlock with the recovery key (fx.recovery).
	passphrase bool
	mayRead    bool     // affected files may also read back right
	flags      []string // more mount flags
	wantFiles  string   // expected files if not those of base: "first"
	damaged    string   // what "sealfs check" names besides the affected files
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
	{name: "data chunk: emptied", base: "final",
		edit: onData(chunkOf("media/IMG-0002.jpg", 0), setEach(func([]byte) []byte { return []byte{} }))},
	{name: "data chunk: replaced by junk of the same size", base: "final",
		edit: onData(chunkOf("media/VID-0003.mp4", 2), setEach(func(b []byte) []byte { return tamperContent(97, len(b)) }))},
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
			old := fx.analyses["first"].ofFile["msgstore.db"][0]
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
	{name: "meta snapshot: replaced by junk of the same size", base: "final", refused: []string{"metadata"},
		edit: onKey(snapKey, func(st bucketState, k string) { st[k] = tamperContent(96, len(st[k])) })},
	{name: "meta snapshot: deleted", base: "final", refused: []string{"metadata"},
		edit: onKey(snapKey, del)},
	{name: "meta snapshot: replaced by an older snapshot", base: "final", refused: []string{"metadata"},
		edit: func(t *testing.T, fx *tamperFixture, a *analysis, st bucketState) []string {
			old := fx.analyses["first"].chainKey(t, "snap")
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
	{name: "head: replaced by 16 MiB of junk", base: "final", refused: []string{"head"},
		edit: onKey(fixed("head"), func(st bucketState, k string) { st[k] = tamperContent(99, 16<<20) })},
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
	{name: "lease: byte flipped (--force replaces it)", base: "final", flags: []string{"--force"},
		edit: onKey(fixed("lease"), flipAt(-3))},
	{name: "vault.json: byte flipped in the MAC", base: "final", passphrase: true, refused: []string{"vault.json", "modified"},
		edit: onKey(fixed("vault.json"), editVault(`"mac": "`, flipHex))},
	{name: "vault.json: truncated", base: "final", passphrase: true, refused: []string{"vault.json", "damaged"},
		edit: onKey(fixed("vault.json"), truncTo(100))},
	{name: "vault.json: replaced by 16 MiB of junk", base: "final", passphrase: true, refused: []string{"vault.json"},
		edit: onKey(fixed("vault.json"), func(st bucketState, k string) { st[k] = tamperContent(98, 16<<20) })},
	{name: "vault.json: deleted", base: "final", passphrase: true, refused: []string{"no sealfs vault"},
		edit: onKey(fixed("vault.json"), del)},
	{name: "vault.json: argon2id memory lowered below the minimum", base: "final", passphrase: true, refused: []string{"memory", "minimum"},
		edit: onKey(fixed("vault.json"), editVault(`"memory_mib": `, func(string) string { return "8" }))},
	{name: "vault.json: argon2id time raised (passphrase)", base: "final", passphrase: true, refused: []string{"passphrase"},
		edit: onKey(fixed("vault.json"), editVault(`"time": `, func(string) string { return "3" }))},
	{name: "vault.json: argon2id time raised (recovery key)", base: "final", refused: []string{"vault.json", "modified"},
		edit: onKey(fixed("vault.json"), editVault(`"time": `, func(string) string { return "3" }))},
	{name: "vault.json: chunk size edited", base: "final", passphrase: true, refused: []string{"vault.json", "modified"},
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
	t.Parallel()
	requireFUSE(t)
	fx := writeTamperFixture(t)
	bases := map[string]bucketState{"first": fx.first, "live": fx.live, "final": fx.final}
	files := map[string]map[string][]byte{"first": fx.firstFiles, "live": fx.liveFiles, "final": fx.finalFiles}
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has its own bucket and device
			base := bases[tc.base]
			st := base.clone()
			affected := tc.edit(t, fx, fx.analyses[tc.base], st)
			loc := fx.upload(t, st)

			dev := newDevice(t, "reader", fx.env)
			flags := slices.Clone(tc.flags)
			if tc.readOnly {
				flags = append(flags, "--read-only")
			}
			if tc.sameDevice {
				flags = append(flags, "--cache-dir", fx.writerState(t))
			}
			unlock := fx.recovery()
			if tc.passphrase {
				unlock = fx.pass
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
		t.Run(wc.name, func(t *testing.T) {
			t.Parallel()
			writeIntoDamaged(t, fx, wc)
		})
	}
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
