package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// The mount helper: installed as /sbin/mount.fuse.sealfs (and
// /sbin/mount.sealfs), a link to this binary, it lets mount(8), /etc/fstab
// and systemd .mount units mount a vault:
//
//	mount -t fuse.sealfs -o passphrase_file=/etc/sealfs/pass,device=nas STORE MOUNTPOINT
//
// mount(8) runs it as "mount.fuse.sealfs SOURCE MOUNTPOINT [-sfnv] [-o
// OPTIONS]"; it becomes "sealfs mount --daemon FLAGS SOURCE MOUNTPOINT"
// (docs/OPERATIONS.md, "/etc/fstab and systemd").

// helperNames are the names under which the binary acts as a mount helper.
var helperNames = []string{"mount.sealfs", "mount.fuse.sealfs"}

// helperValueOptions map mount options with a value to mount's flags;
// helperBoolOptions those without.
var (
	helperValueOptions = map[string]string{
		"passphrase_file": "--passphrase-file", "recovery_key_file": "--recovery-key-file",
		"cache_dir": "--cache-dir", "device": "--device", "commit_interval": "--commit-interval",
		"follow_interval": "--follow-interval", "fsync_timeout": "--fsync-timeout",
		"snapshot": "--snapshot", "snapshot_every": "--snapshot-every",
		"s3_endpoint": "--s3-endpoint", "s3_ca_cert": "--s3-ca-cert",
	}
	helperBoolOptions = map[string]string{
		"ro": "--read-only", "allow_other": "--allow-other", "s3_insecure": "--s3-insecure",
		"single_device": "--single-device", "verbose": "--verbose",
	}
	// helperIgnored are generic options mount(8), fstab or systemd pass
	// that mean nothing to sealfs (a FUSE mount is always nosuid, nodev).
	helperIgnored = []string{"rw", "defaults", "auto", "noauto", "user", "nouser", "users", "owner",
		"group", "_netdev", "nofail", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "async",
		"atime", "noatime", "relatime", "strictatime", "nodiratime", "lazytime", "nolazytime"}
)

// helperArgs returns the arguments to run: args[1:], or, when the binary
// runs as a mount helper (args[0] is one of helperNames), the mount
// command its arguments ask for; nil when they ask for nothing (-f, fake).
// Bad arguments are a usage error (exit 2).
func helperArgs(args []string) ([]string, error) {
	if len(args) == 0 || !slices.Contains(helperNames, filepath.Base(args[0])) {
		return args[1:], nil
	}
	var pos, opts []string
	sloppy, fake := false, false
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t":
			if i+1 == len(args) {
				return nil, usageErr("mount helper: %s needs a value", a)
			}
			if a == "-o" {
				opts = append(opts, strings.Split(args[i+1], ",")...)
			}
			i++
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, strings.Split(a[2:], ",")...)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, f := range a[1:] {
				switch f {
				case 's':
					sloppy = true
				case 'f':
					fake = true
				case 'n', 'v': // no mtab to write; sealfs is quiet either way
				default:
					return nil, usageErr("mount helper: unknown flag -%c (takes -s, -f, -n, -v, -o OPTIONS)", f)
				}
			}
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return nil, usageErr("mount helper: needs STORE and MOUNTPOINT (got %d arguments): mount -t fuse.sealfs STORE MOUNTPOINT", len(pos))
	}
	store := strings.TrimPrefix(pos[0], "sealfs#") // the old fuse "type#source" form
	out := []string{"mount", "--daemon"}
	for _, o := range opts {
		key, val, hasVal := strings.Cut(o, "=")
		switch {
		case key == "":
		case helperValueOptions[key] != "" && hasVal && val != "":
			out = append(out, helperValueOptions[key]+"="+val)
		case helperBoolOptions[key] != "" && !hasVal:
			out = append(out, helperBoolOptions[key])
		case slices.Contains(helperIgnored, key) || strings.HasPrefix(key, "x-") || key == "comment":
		case sloppy:
		default:
			return nil, usageErr("mount helper: unknown or malformed mount option %q (sealfs takes %s)", o, helperOptionList())
		}
	}
	if fake {
		return nil, nil // -f: do everything but mount
	}
	return append(out, store, pos[1]), nil
}

func helperOptionList() string {
	var names []string
	for k := range helperValueOptions {
		names = append(names, k+"=...")
	}
	for k := range helperBoolOptions {
		names = append(names, k)
	}
	slices.Sort(names)
	return fmt.Sprintf("%s, and the usual rw, noauto, nofail, _netdev, x-systemd.*", strings.Join(names, ", "))
}
