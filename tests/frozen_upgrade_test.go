package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/crypt"
)

// TestFrozenVaultUpgrade: the first read-write mount of every frozen vault
// upgrades its vault.json to crypt.VaultVersion (a vault frozen at
// crypt.VaultVersion is left as it is), and the upgrade is crash-safe.
//
//  1. A read-write mount is killed (SIGKILL) before anything was written
//     through it: the crash right after the upgrade's one write. The
//     store then differs from the frozen one only in vault.json (now
//     crypt.VaultVersion; unchanged if it was already) and the writer
//     lease; a read-only mount shows exactly the manifest and the xattrs,
//     and check --read-data finds no damage.
//  2. A read-write mount again, with --compress: files written (one
//     compressed), a FIFO made (format 2 on), a snapshot taken, then a
//     clean unmount; check --read-data
//     still finds no damage, a fresh device sees the old tree plus the new
//     entries, and the frozen snapshots (with the one taken and the
//     unmount's) still list and mount.
func TestFrozenVaultUpgrade(t *testing.T) {
	forFrozen(t, frozenUpgrade)
}

func frozenUpgrade(t *testing.T, v frozenVault) {
	store := copyStore(t, v)
	before := storeDigest(t, store)
	pass := []string{"SEALFS_PASSPHRASE=" + v.passphrase}
	d := newDevice(t, "new laptop", nil)

	// 1. The crash between the upgrade and the first write in the
	// current format.
	m := d.mount(pass, store)
	kill9(t, mountPID(t, m))
	detach(t, m)
	if got := vaultJSONVersion(t, store); got != crypt.VaultVersion {
		t.Fatalf("after a read-write mount, vault.json says version %d, want %d (crypt.VaultVersion; the frozen vault is at %d)", got, crypt.VaultVersion, v.version)
	}
	after := storeDigest(t, store)
	if upgraded := before["vault.json"] != after["vault.json"]; upgraded != (v.version < crypt.VaultVersion) {
		t.Errorf("vault.json rewritten: %v; the frozen vault is at version %d, crypt.VaultVersion is %d", upgraded, v.version, crypt.VaultVersion)
	}
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
	frozenExtras(t, v, ro)
	other.ok(nil, "umount", ro)

	// 2. Writes in the current format on top of the frozen metadata,
	// compressed (format 4): a file of 507 KiB of text, more than a pack
	// takes, so its chunk is a zstd frame.
	m = d.mount(pass, store, "--compress")
	written := bytes.Repeat([]byte("written after the upgrade\n"), 20000)
	if err := os.WriteFile(filepath.Join(m, "after-upgrade.txt"), written, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(m, "Telegram/pipe"), 0o600); err != nil {
		t.Fatalf("mkfifo on an upgraded vault: %v", err)
	}
	d.ok(nil, "snapshot", store) // the mount takes it
	d.ok(nil, "umount", m)

	r = other.ok(pass, "check", "--read-data", store)
	if !strings.Contains(r.stdout, "no damage found") || !strings.Contains(r.stdout, fmt.Sprintf(" %d snapshots", len(v.snapshots)+2)) {
		t.Fatalf("check --read-data after the upgraded mount's writes:\n%s", r.stdout)
	}
	ro = other.mount(pass, store, "--read-only")
	got, _, _ = treeManifest(t, ro)
	want := slices.Clone(v.manifest)
	want = append(want,
		fmt.Sprintf("file\t./after-upgrade.txt\t644\t%d\t%s", len(written), sha256Hex(written)),
		"fifo\t./Telegram/pipe\t600")
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(strings.Split(a, "\t")[1], strings.Split(b, "\t")[1]) })
	if diff := diffLines(want, got); diff != "" {
		t.Errorf("after the upgraded mount's writes, the tree differs from manifest.tsv plus the new file and FIFO:%s", diff)
	}
	frozenExtras(t, v, ro)
	other.ok(nil, "umount", ro)
	r = other.ok(pass, "snapshots", "--json", store)
	var listed []snapshotRecord
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil {
		t.Fatalf("snapshots --json: %v\n%s", err, r.stdout)
	}
	if len(listed) != len(v.snapshots)+2 || !slices.Equal(listed[:len(v.snapshots)], v.snapshots) {
		t.Fatalf("snapshots after the upgrade:\n\t%+v\nwant the frozen %d, the one taken and the unmount's", listed, len(v.snapshots))
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
