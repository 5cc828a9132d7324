package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The frozen vaults (testdata/vaults, see its README.md): vaults written
// once by an earlier sealfs, kept byte for byte. Every later sealfs must
// open them as they were. These tests only read them (a copy of each
// store, in a temporary directory); the read-write upgrade is tested where
// the format changes.

// frozenVault is one directory of testdata/vaults.
type frozenVault struct {
	dir                      string // testdata/vaults/NAME
	passphrase, recoveryFile string
	manifest                 []string // manifest.tsv's lines
	snapshots                []snapshotRecord
}

// snapshotRecord is one snapshot as 'sealfs snapshots --json' prints it.
type snapshotRecord struct {
	ID     string `json:"id"`
	Time   string `json:"time"`
	Device string `json:"device"`
	Files  uint64 `json:"files"`
	Bytes  uint64 `json:"bytes"`
}

func loadFrozen(t *testing.T, name string) frozenVault {
	t.Helper()
	v := frozenVault{dir: filepath.Join("testdata", "vaults", name)}
	v.recoveryFile = filepath.Join(v.dir, "recovery-key")
	pass, err := os.ReadFile(filepath.Join(v.dir, "passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	v.passphrase = string(pass)
	man, err := os.ReadFile(filepath.Join(v.dir, "manifest.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	v.manifest = strings.Split(strings.TrimSuffix(string(man), "\n"), "\n")
	snaps, err := os.ReadFile(filepath.Join(v.dir, "snapshots.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(snaps, &v.snapshots); err != nil {
		t.Fatalf("%s/snapshots.json: %v", v.dir, err)
	}
	if len(v.snapshots) != 3 {
		t.Fatalf("%s/snapshots.json lists %d snapshots; make-format1.sh took 3", v.dir, len(v.snapshots))
	}
	return v
}

// copyStore copies the frozen store into a fresh temporary directory: the
// test vectors are never written to.
func copyStore(t *testing.T, v frozenVault) string {
	t.Helper()
	src := filepath.Join(v.dir, "store")
	dst := filepath.Join(t.TempDir(), "store")
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// storeDigest is every object of a directory store with its content's
// hash, leaving out the store's own scratch directory (.sealfs).
func storeDigest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if e.IsDir() {
			if rel == ".sealfs" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// treeManifest lists the tree under root as make-format1.sh wrote
// manifest.tsv (find . -mindepth 1 | LC_ALL=C sort; stat -c %a; sha256sum;
// readlink), and counts its regular files as a snapshot does: each inode
// once.
func treeManifest(t *testing.T, root string) (lines []string, files, size uint64) {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, "."+strings.TrimPrefix(p, root))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	slices.Sort(paths) // bytewise, as LC_ALL=C sort
	seen := map[uint64]bool{}
	for _, p := range paths {
		full := filepath.Join(root, p)
		fi, err := os.Lstat(full)
		if err != nil {
			t.Fatal(err)
		}
		mode := uint32(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		if fi.Mode()&fs.ModeSetgid != 0 {
			mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSetuid != 0 {
			mode |= 0o4000
		}
		switch {
		case fi.Mode().IsRegular():
			sum := fileSHA256(t, full)
			lines = append(lines, fmt.Sprintf("file\t%s\t%o\t%d\t%s", p, mode, fi.Size(), sum))
			ino := fi.Sys().(*syscall.Stat_t).Ino
			if !seen[ino] {
				seen[ino] = true
				files++
				size += uint64(fi.Size())
			}
		case fi.IsDir():
			lines = append(lines, fmt.Sprintf("dir\t%s\t%o", p, mode))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("symlink\t%s\t%s", p, target))
		default:
			lines = append(lines, fmt.Sprintf("other\t%s\t%v", p, fi.Mode()))
		}
	}
	return lines, files, size
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// diffLines says which lines only want or only got has ("" if none).
func diffLines(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "\n\tmissing: %q", l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "\n\textra:   %q", l)
		}
	}
	if b.Len() == 0 && !slices.Equal(want, got) {
		return "\n\tthe same lines in another order"
	}
	return b.String()
}

// TestFrozenFormat1 opens the frozen format-1 vaults with the sealfs
// binary built from this tree, on a copy of each store: check --read-data
// finds no damage; snapshots --json lists exactly the snapshots the old
// sealfs listed; a read-only mount, unlocked with the passphrase and with
// the recovery key, shows exactly the manifest (paths, types, modes,
// sizes, SHA-256 of every file, symlink targets), the hard link as one
// file, the xattr and the nanosecond mtime; every snapshot mounts with the
// tree make-format1.sh left at that point and the file count and bytes the
// catalog gives; and none of this writes to the store.
func TestFrozenFormat1(t *testing.T) {
	for _, name := range []string{"format1-aes-gcm", "format1-xchacha20"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			requireFUSE(t)
			frozenFormat1(t, loadFrozen(t, name))
		})
	}
}

func frozenFormat1(t *testing.T, v frozenVault) {
	store := copyStore(t, v)
	before := storeDigest(t, store)
	pass := []string{"SEALFS_PASSPHRASE=" + v.passphrase}
	recovery := []string{"--recovery-key-file", v.recoveryFile}
	d := newDevice(t, "restoring phone", nil)

	r := d.ok(pass, "check", "--read-data", store)
	if !strings.Contains(r.stdout, "no damage found") || !strings.Contains(r.stdout, "checked the current files and 3 snapshots") {
		t.Errorf("check --read-data:\n%s", r.stdout)
	}

	r = d.ok(nil, append([]string{"snapshots", "--json"}, append(recovery, store)...)...)
	var listed []snapshotRecord
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("snapshots --json: %v\n%s", err, r.stdout)
	}
	if !slices.Equal(listed, v.snapshots) {
		t.Errorf("snapshots --json lists\n\t%+v\nthe frozen vault's snapshots.json has\n\t%+v", listed, v.snapshots)
	}

	// The current tree, once unlocked with each secret.
	for _, secret := range []struct {
		name  string
		env   []string
		flags []string
	}{
		{"passphrase", pass, nil},
		{"recovery key", nil, recovery},
	} {
		m := d.mount(secret.env, store, append([]string{"--read-only"}, secret.flags...)...)
		got, _, _ := treeManifest(t, m)
		if diff := diffLines(v.manifest, got); diff != "" {
			t.Errorf("unlocked with the %s, the read-only mount differs from manifest.tsv:%s", secret.name, diff)
		}
		frozenExtras(t, m)
		d.ok(nil, "umount", m)
	}

	// Each snapshot (snapshots.json is in commit order), against what
	// make-format1.sh had written when it was taken: the first is the
	// first day's unmount, the second the explicit snapshot of the second
	// day (before day2.txt), the third the second day's unmount, the tree
	// of the manifest.
	const (
		db      = "./WhatsApp/Databases/msgstore.db.crypt15"
		deleted = "./WhatsApp/Media/WhatsApp Images/IMG-20261201-WA0007.jpg"
		day2    = "./day2.txt"
	)
	without := func(lines []string, paths ...string) []string {
		return slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
			return slices.Contains(paths, strings.Split(l, "\t")[1])
		})
	}
	manifestDB := ""
	for _, l := range v.manifest {
		if strings.HasPrefix(l, "file\t"+db+"\t") {
			manifestDB = l
		}
	}
	if manifestDB == "" {
		t.Fatalf("manifest.tsv has no %s", db)
	}
	for i, snap := range v.snapshots {
		m := d.mount(pass, store, "--snapshot", snap.ID)
		got, files, size := treeManifest(t, m)
		if files != snap.Files || size != snap.Bytes {
			t.Errorf("snapshot %s (%d): %d files, %d bytes mounted; the catalog said %d files, %d bytes", snap.ID, i+1, files, size, snap.Files, snap.Bytes)
		}
		var want []string
		switch i {
		case 2:
			want = v.manifest
		case 1:
			want = without(v.manifest, day2)
		case 0:
			// The first day's database (mode 0600, rewritten on the second
			// day) and image 7 (deleted on the second day) are not in the
			// manifest: the rest is.
			want = without(v.manifest, day2)
			var firstDB, image string
			for _, l := range got {
				switch p := strings.Split(l, "\t")[1]; p {
				case db:
					firstDB = l
				case deleted:
					image = l
				}
			}
			f := strings.Split(firstDB+"\t\t\t\t", "\t")
			if f[0] != "file" || f[2] != "600" || f[3] != "300000" || firstDB == manifestDB || f[4] == strings.Split(manifestDB, "\t")[4] {
				t.Errorf("snapshot %s (first day): %s is %q; want the first day's 300000 bytes, mode 600, not the later rewrite", snap.ID, db, firstDB)
			}
			if f := strings.Split(image+"\t\t\t\t", "\t"); f[0] != "file" || f[2] != "644" || f[3] != "7979" {
				t.Errorf("snapshot %s (first day): %s is %q; want the 7979-byte image deleted on the second day", snap.ID, deleted, image)
			}
			got = without(got, db, deleted)
			want = without(want, db)
		}
		if diff := diffLines(want, got); diff != "" {
			t.Errorf("snapshot %s (%d of 3) differs from what make-format1.sh had written then:%s", snap.ID, i+1, diff)
		}
		frozenExtras(t, m)
		d.ok(nil, "umount", m)
	}

	if after := storeDigest(t, store); !maps.Equal(before, after) {
		t.Errorf("reading the frozen vault changed its store:%s", diffDigest(before, after))
	}
}

// frozenExtras checks what manifest.tsv does not record (README.md): the
// hard link is one file, the empty file's xattr, the nanosecond mtime.
func frozenExtras(t *testing.T, m string) {
	t.Helper()
	html := filepath.Join(m, "Telegram/ChatExport_2026-12-01/messages.html")
	link := filepath.Join(m, "Telegram/messages-hardlink.html")
	a, errA := os.Lstat(html)
	b, errB := os.Lstat(link)
	if errA != nil || errB != nil {
		t.Fatalf("the hard-linked pair: %v, %v", errA, errB)
	}
	if !os.SameFile(a, b) || a.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Errorf("messages.html and its hard link are not one file with two links (inodes %d, %d; links %d)",
			a.Sys().(*syscall.Stat_t).Ino, b.Sys().(*syscall.Stat_t).Ino, a.Sys().(*syscall.Stat_t).Nlink)
	}
	wantTime := time.Date(2026, 12, 1, 3, 0, 0, 123456789, time.UTC)
	for _, fi := range []os.FileInfo{a, b} {
		if !fi.ModTime().Equal(wantTime) {
			t.Errorf("%s has mtime %s, want %s", fi.Name(), fi.ModTime().UTC().Format(time.RFC3339Nano), wantTime.Format(time.RFC3339Nano))
		}
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(filepath.Join(m, "Telegram/empty.txt"), "user.sealfs.note", buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("frozen")) {
		t.Errorf("Telegram/empty.txt's user.sealfs.note is %q (%v), want \"frozen\"", buf[:max(n, 0)], err)
	}
}

func diffDigest(before, after map[string]string) string {
	var b strings.Builder
	for k, v := range before {
		if w, ok := after[k]; !ok {
			fmt.Fprintf(&b, "\n\tremoved: %s", k)
		} else if w != v {
			fmt.Fprintf(&b, "\n\tchanged: %s", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			fmt.Fprintf(&b, "\n\tadded:   %s", k)
		}
	}
	return b.String()
}
