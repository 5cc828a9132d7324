package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestFrozenVaultUpgrade: the first read-write mount of a frozen format-1
// vault upgrades it to format 2, and the upgrade is crash-safe.
//
//  1. A read-write mount is killed (SIGKILL) before anything was written
//     through it: the crash right after the upgrade's one write. The
//     store then differs from the frozen one only in vault.json (now
//     version 2) and the writer lease; a read-only mount shows exactly
//     the manifest, and check --read-data finds no damage.
//  2. A read-write mount again: files written, a FIFO made (format 2
//     only), a snapshot taken, then a clean unmount; check --read-data
//     still finds no damage, a fresh device sees the old tree plus the new
//     entries, and the three old snapshots (with the one taken and the
//     unmount's) still list and mount.
func TestFrozenVaultUpgrade(t *testing.T) {
	for _, name := range []string{"format1-aes-gcm", "format1-xchacha20"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			requireFUSE(t)
			frozenUpgrade(t, loadFrozen(t, name))
		})
	}
}

func frozenUpgrade(t *testing.T, v frozenVault) {
	store := copyStore(t, v)
	before := storeDigest(t, store)
	pass := []string{"SEALFS_PASSPHRASE=" + v.passphrase}
	if got := vaultJSONVersion(t, store); got != 1 {
		t.Fatalf("the frozen vault.json says version %d", got)
	}
	d := newDevice(t, "new laptop", nil)

	// 1. The crash between the upgrade and the first format-2 write.
	m := d.mount(pass, store)
	kill9(t, mountPID(t, m))
	detach(t, m)
	if got := vaultJSONVersion(t, store); got != 2 {
		t.Fatalf("after a read-write mount, vault.json says version %d, want 2", got)
	}
	after := storeDigest(t, store)
	for _, k := range []string{"vault.json", "lease"} {
		delete(before, k)
		delete(after, k)
	}
	if !maps.Equal(before, after) {
		t.Fatalf("a read-write mount that wrote nothing changed more than vault.json and the lease:%s", diffDigest(before, after))
	}
	other := newDevice(t, "phone", nil)
	r := other.ok(pass, "check", "--read-data", store)
	if !strings.Contains(r.stdout, "no damage found") {
		t.Fatalf("check --read-data after the upgrade:\n%s", r.stdout)
	}
	ro := other.mount(pass, store, "--read-only")
	got, _, _ := treeManifest(t, ro)
	if diff := diffLines(v.manifest, got); diff != "" {
		t.Fatalf("after the upgrade, the read-only mount differs from manifest.tsv:%s", diff)
	}
	other.ok(nil, "umount", ro)

	// 2. Format-2 writes on top of format-1 metadata.
	m = d.mount(pass, store)
	if err := os.WriteFile(filepath.Join(m, "after-upgrade.txt"), []byte("written by format 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(m, "Telegram/pipe"), 0o600); err != nil {
		t.Fatalf("mkfifo on an upgraded vault: %v", err)
	}
	d.ok(nil, "snapshot", store) // the mount takes it
	d.ok(nil, "umount", m)

	r = other.ok(pass, "check", "--read-data", store)
	if !strings.Contains(r.stdout, "no damage found") || !strings.Contains(r.stdout, "5 snapshots") {
		t.Fatalf("check --read-data after format-2 writes:\n%s", r.stdout)
	}
	ro = other.mount(pass, store, "--read-only")
	got, _, _ = treeManifest(t, ro)
	want := slices.Clone(v.manifest)
	want = append(want, "file\t./after-upgrade.txt\t644\t20\t"+sha256Hex([]byte("written by format 2\n")))
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(strings.Split(a, "\t")[1], strings.Split(b, "\t")[1]) })
	got = slices.DeleteFunc(got, func(l string) bool { return strings.Contains(l, "\t./Telegram/pipe") })
	if diff := diffLines(want, got); diff != "" {
		t.Errorf("after format-2 writes, the tree differs from manifest.tsv plus the new file:%s", diff)
	}
	if st, err := os.Lstat(filepath.Join(ro, "Telegram/pipe")); err != nil || st.Mode()&os.ModeNamedPipe == 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("the FIFO on another device: %v, %v", st, err)
	}
	other.ok(nil, "umount", ro)
	r = other.ok(pass, "snapshots", "--json", store)
	var listed []snapshotRecord
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("snapshots --json: %v\n%s", err, r.stdout)
	}
	if len(listed) != 5 || !slices.Equal(listed[:3], v.snapshots) {
		t.Fatalf("snapshots after the upgrade:\n\t%+v\nwant the frozen three, the one taken and the unmount's", listed)
	}
	for _, snap := range listed {
		sm := other.mount(pass, store, "--snapshot", snap.ID)
		_, files, size := treeManifest(t, sm)
		if files != snap.Files || size != snap.Bytes {
			t.Errorf("snapshot %s: %d files, %d bytes mounted; the catalog says %d, %d", snap.ID, files, size, snap.Files, snap.Bytes)
		}
		other.ok(nil, "umount", sm)
	}
}

// vaultJSONVersion reads the "version" of a directory store's vault.json.
func vaultJSONVersion(t *testing.T, store string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(store, "vault.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("vault.json: %v", err)
	}
	return v.Version
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
