package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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

	"github.com/sealfs/sealfs/crypt"
)

// The frozen vaults (testdata/vaults, see its README.md): vaults written
// once by an earlier sealfs, kept byte for byte. Every later sealfs must
// open them as they were. These tests only read them (a copy of each
// store, in a temporary directory); the read-write upgrade is
// TestFrozenVaultUpgrade.

// frozenVaultNames are the directories of testdata/vaults, listed rather
// than globbed so that a lost one fails instead of going untested.
var frozenVaultNames = []string{
	"format1-aes-gcm", "format1-xchacha20",
	"format2-aes-gcm", "format2-xchacha20",
	"format3-aes-gcm", "format3-xchacha20",
	"format4-aes-gcm", "format4-xchacha20",
}

// Paths of the frozen trees that changed after the first day (make-formatN.sh).
const (
	frozenDB      = "./WhatsApp/Databases/msgstore.db.crypt15"                 // rewritten on the second day
	frozenDeleted = "./WhatsApp/Media/WhatsApp Images/IMG-20261201-WA0007.jpg" // deleted on the second day
	frozenDay2    = "./day2.txt"
	frozenSocket  = "./Telegram/tdesktop.sock" // format 2: bound after the second snapshot
	// Format 3: the second day's export, whose photo repeats the first
	// day's (written before the second day's first snapshot).
	frozenExport2 = "./Telegram/ChatExport_2026-12-02"
	frozenPhotos2 = frozenExport2 + "/photos"
	frozenPhoto2  = frozenPhotos2 + "/photo_1@01-12-2026.jpg"
)

// frozenLater lists, for the vaults of each format (their vault.json
// version), the snapshots make-formatN.sh took in commit order, each as
// the paths of manifest.tsv it did not hold yet. The first snapshot is
// always the first day's unmount, which also held the first day's
// database and image 7 (frozenDB, frozenDeleted); the last is the second
// day's unmount, the tree of the manifest.
var frozenLater = map[int][][]string{
	// The first day's unmount; the second day's explicit snapshot (before
	// day2.txt); the second day's unmount.
	1: {{frozenDay2}, {frozenDay2}, {}},
	// The same, with a second explicit snapshot after day2.txt and a
	// socket bound after it.
	2: {{frozenDay2, frozenSocket}, {frozenDay2, frozenSocket}, {frozenSocket}, {}},
	// Format 2's, with the second day's export (and its photo, the twin
	// of the first day's) written before the second day's first snapshot.
	3: {{frozenDay2, frozenSocket, frozenExport2, frozenPhotos2, frozenPhoto2}, {frozenDay2, frozenSocket}, {frozenSocket}, {}},
	// Format 3's: the compressed result.json is written on the first day.
	4: {{frozenDay2, frozenSocket, frozenExport2, frozenPhotos2, frozenPhoto2}, {frozenDay2, frozenSocket}, {frozenSocket}, {}},
}

// frozenVault is one directory of testdata/vaults.
type frozenVault struct {
	dir                      string // testdata/vaults/NAME
	version                  int    // its store's vault.json version
	passphrase, recoveryFile string
	manifest                 []string // manifest.tsv's lines
	xattrs                   []string // xattrs.tsv's lines (format 2 on); nil without one
	snapshots                []snapshotRecord
}

// forFrozen runs test on a fresh load of every frozen vault, each in a
// parallel subtest named after it.
func forFrozen(t *testing.T, test func(t *testing.T, v frozenVault)) {
	for _, name := range frozenVaultNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			requireFUSE(t)
			test(t, loadFrozen(t, name))
		})
	}
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
	switch xa, err := os.ReadFile(filepath.Join(v.dir, "xattrs.tsv")); {
	case err == nil:
		v.xattrs = strings.Split(strings.TrimSuffix(string(xa), "\n"), "\n")
	case !errors.Is(err, fs.ErrNotExist):
		t.Fatal(err)
	}
	v.version = vaultJSONVersion(t, filepath.Join(v.dir, "store"))
	if v.version < crypt.MinVaultVersion || v.version > crypt.VaultVersion {
		t.Fatalf("%s: vault.json version %d; this sealfs reads %d to %d", v.dir, v.version, crypt.MinVaultVersion, crypt.VaultVersion)
	}
	snaps, err := os.ReadFile(filepath.Join(v.dir, "snapshots.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(snaps, &v.snapshots); err != nil {
		t.Fatalf("%s/snapshots.json: %v", v.dir, err)
	}
	later, ok := frozenLater[v.version]
	if !ok {
		t.Fatalf("%s: no frozenLater entry for vault.json version %d", v.dir, v.version)
	}
	if len(v.snapshots) != len(later) {
		t.Fatalf("%s/snapshots.json lists %d snapshots; make-format%d.sh took %d", v.dir, len(v.snapshots), v.version, len(later))
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

// treeManifest lists the tree under root as make-formatN.sh wrote
// manifest.tsv (find . -mindepth 1 | LC_ALL=C sort; stat -c %a; sha256sum;
// readlink; the device numbers in decimal), and counts its regular files
// as a snapshot does: each inode once.
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
		case fi.Mode()&fs.ModeNamedPipe != 0:
			lines = append(lines, fmt.Sprintf("fifo\t%s\t%o", p, mode))
		case fi.Mode()&fs.ModeSocket != 0:
			lines = append(lines, fmt.Sprintf("socket\t%s\t%o", p, mode))
		case fi.Mode()&fs.ModeDevice != 0:
			kind := "blockdev"
			if fi.Mode()&fs.ModeCharDevice != 0 {
				kind = "chardev"
			}
			rdev := uint64(fi.Sys().(*syscall.Stat_t).Rdev)
			lines = append(lines, fmt.Sprintf("%s\t%s\t%o\t%d\t%d", kind, p, mode, unix.Major(rdev), unix.Minor(rdev)))
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

// TestFrozenVaults opens every frozen vault (format 1 and on) with the
// sealfs binary built from this tree, on a copy of each store: check
// --read-data finds no damage; snapshots --json lists exactly the
// snapshots the old sealfs listed; a read-only mount, unlocked with the
// passphrase and with the recovery key, shows exactly the manifest (paths,
// types, modes, sizes, SHA-256 of every file, symlink targets, special
// files with their device numbers), the hard link as one file, the
// xattrs and the nanosecond mtime; every snapshot mounts with the tree
// make-formatN.sh left at that point and the file count and bytes the
// catalog gives; and none of this writes to the store.
func TestFrozenVaults(t *testing.T) {
	forFrozen(t, frozenVaults)
}

func frozenVaults(t *testing.T, v frozenVault) {
	store := copyStore(t, v)
	before := storeDigest(t, store)
	pass := []string{"SEALFS_PASSPHRASE=" + v.passphrase}
	recovery := []string{"--recovery-key-file", v.recoveryFile}
	d := newDevice(t, "restoring phone", nil)

	r := d.ok(pass, "check", "--read-data", store)
	if !strings.Contains(r.stdout, "no damage found") || !strings.Contains(r.stdout, fmt.Sprintf("checked the current files and %d snapshots", len(v.snapshots))) {
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
		frozenExtras(t, v, m)
		d.ok(nil, "umount", m)
	}

	// Each snapshot (snapshots.json is in commit order), against what
	// make-formatN.sh had written when it was taken (frozenLater).
	manifestDB := ""
	for _, l := range v.manifest {
		if strings.HasPrefix(l, "file\t"+frozenDB+"\t") {
			manifestDB = l
		}
	}
	if manifestDB == "" {
		t.Fatalf("manifest.tsv has no %s", frozenDB)
	}
	for i, snap := range v.snapshots {
		m := d.mount(pass, store, "--snapshot", snap.ID)
		got, files, size := treeManifest(t, m)
		if files != snap.Files || size != snap.Bytes {
			t.Errorf("snapshot %s (%d): %d files, %d bytes mounted; the catalog said %d files, %d bytes", snap.ID, i+1, files, size, snap.Files, snap.Bytes)
		}
		want := withoutPaths(v.manifest, frozenLater[v.version][i]...)
		if i == 0 {
			// The first day's database (mode 0600, rewritten on the second
			// day) and image 7 (deleted on the second day) are not in the
			// manifest: the rest is.
			var firstDB, image string
			for _, l := range got {
				switch p := strings.Split(l, "\t")[1]; p {
				case frozenDB:
					firstDB = l
				case frozenDeleted:
					image = l
				}
			}
			f := strings.Split(firstDB+"\t\t\t\t", "\t")
			if f[0] != "file" || f[2] != "600" || f[3] != "300000" || firstDB == manifestDB || f[4] == strings.Split(manifestDB, "\t")[4] {
				t.Errorf("snapshot %s (first day): %s is %q; want the first day's 300000 bytes, mode 600, not the later rewrite", snap.ID, frozenDB, firstDB)
			}
			if f := strings.Split(image+"\t\t\t\t", "\t"); f[0] != "file" || f[2] != "644" || f[3] != "7979" {
				t.Errorf("snapshot %s (first day): %s is %q; want the 7979-byte image deleted on the second day", snap.ID, frozenDeleted, image)
			}
			got = withoutPaths(got, frozenDB, frozenDeleted)
			want = withoutPaths(want, frozenDB)
		}
		if diff := diffLines(want, got); diff != "" {
			t.Errorf("snapshot %s (%d of %d) differs from what make-format%d.sh had written then:%s", snap.ID, i+1, len(v.snapshots), v.version, diff)
		}
		frozenExtras(t, v, m)
		d.ok(nil, "umount", m)
	}

	if after := storeDigest(t, store); !maps.Equal(before, after) {
		t.Errorf("reading the frozen vault changed its store:%s", diffDigest(before, after))
	}
}

// withoutPaths is lines (of a manifest) without those of the given paths.
func withoutPaths(lines []string, paths ...string) []string {
	return slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
		return slices.Contains(paths, strings.Split(l, "\t")[1])
	})
}

// frozenExtras checks what manifest.tsv does not record (README.md): the
// hard link is one file, the empty file's xattr, the nanosecond mtime;
// and, where the vault has an xattrs.tsv, every xattr of the tree.
func frozenExtras(t *testing.T, v frozenVault, m string) {
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
	if v.xattrs != nil {
		if diff := diffLines(v.xattrs, treeXattrs(t, m)); diff != "" {
			t.Errorf("the xattrs of %s differ from xattrs.tsv:%s", m, diff)
		}
	}
}

// treeXattrs lists every extended attribute under root as make-format2.sh
// wrote xattrs.tsv: PATH NAME SIZE SHA256, by path (bytewise) then name.
func treeXattrs(t *testing.T, root string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		names, err := listXattrs(p)
		if err != nil {
			return err
		}
		slices.Sort(names)
		for _, name := range names {
			value := make([]byte, 64<<10) // XATTR_SIZE_MAX
			n, err := unix.Lgetxattr(p, name, value)
			if err != nil {
				return fmt.Errorf("getxattr %s %s: %w", p, name, err)
			}
			lines = append(lines, fmt.Sprintf(".%s\t%s\t%d\t%s", strings.TrimPrefix(p, root), name, n, sha256Hex(value[:n])))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing the xattrs under %s: %v", root, err)
	}
	slices.SortStableFunc(lines, func(a, b string) int {
		return strings.Compare(strings.Split(a, "\t")[0], strings.Split(b, "\t")[0])
	})
	return lines
}

// listXattrs is the names of p's extended attributes (not following a
// symlink).
func listXattrs(p string) ([]string, error) {
	n, err := unix.Llistxattr(p, nil)
	if err != nil {
		return nil, fmt.Errorf("listxattr %s: %w", p, err)
	}
	buf := make([]byte, n)
	if n, err = unix.Llistxattr(p, buf); err != nil {
		return nil, fmt.Errorf("listxattr %s: %w", p, err)
	}
	var names []string
	for name := range strings.SplitSeq(string(buf[:n]), "\x00") {
		if name != "" {
			names = append(names, name)
		}
	}
	return names, nil
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
