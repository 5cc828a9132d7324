package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mountHelperScript installs sealfs as mount.fuse.sealfs in a private
// mount namespace (a tmpfs over the sbin directory, so the machine's own
// is untouched), mounts the vault through an fstab line with the real
// mount(8), writes a file and unmounts.
const mountHelperScript = `set -e
sbin=$(readlink -f /sbin)
mount -t tmpfs sealfs-helpers "$sbin"
ln -s "$SEALFS_BIN" "$sbin/mount.fuse.sealfs"
mount -T "$FSTAB" "$MNT"
if ! grep -q " $MNT fuse.sealfs " /proc/self/mounts; then
	echo "mount(8) did not leave a fuse.sealfs mount at $MNT" >&2
	exit 1
fi
echo "written through an fstab mount" > "$MNT/hello.txt"
"$SEALFS_BIN" umount "$MNT"`

// TestMountHelperFstab: an /etc/fstab line mounts a vault through mount(8)
// and the mount.fuse.sealfs helper, with its options (passphrase file,
// device name) taken from the line.
func TestMountHelperFstab(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	requireNoFUSESandbox(t) // root and unshare, for the private namespace
	st := dirStore(t)
	d := newDevice(t, "server", st.env)
	const pass = "mounted from fstab passphrase"
	d.ok([]string{"SEALFS_PASSPHRASE=" + pass}, append(append([]string{"init"}, fastKDF...), st.location)...)

	dir := t.TempDir()
	passFile := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	fstab := filepath.Join(dir, "fstab")
	line := st.location + " " + mnt + " fuse.sealfs noauto,nofail,_netdev,x-systemd.automount,passphrase_file=" + passFile + ",device=fstab-box,commit_interval=1s 0 0\n"
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", mountHelperScript)
	for k, v := range d.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "SEALFS_BIN="+sealfsBin, "FSTAB="+fstab, "MNT="+mnt)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mount through fstab: %v\n%s", err, out)
	}

	pw := []string{"SEALFS_PASSPHRASE=" + pass}
	if got := d.ok(pw, "cat", st.location, "hello.txt").stdout; got != "written through an fstab mount\n" {
		t.Fatalf("the file written through the fstab mount reads %q", got)
	}
	var info struct {
		LastCommit struct{ Device string } `json:"last_commit"`
	}
	out := d.ok(pw, "info", "--json", st.location).stdout
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.LastCommit.Device != "fstab-box" {
		t.Fatalf("the last commit should be by the device named in fstab (fstab-box): %v\n%s", err, out)
	}
}
