package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// fuseFSType is the file system type the kernel shows for our mounts
// (go-fuse names it "fuse." + MountOptions.Name).
const fuseFSType = "fuse.sealfs"

// checkMountpoint refuses a mountpoint that is missing, not a directory,
// not empty, or already mounted, with the fix in the message.
func checkMountpoint(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if fstype, ok := mountedFSType(abs); ok {
		return "", fmt.Errorf("%s is already a mount point (%s): unmount it first, or choose another directory", abs, fstype)
	}
	st, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("mount point %s does not exist: create it with 'mkdir -p %s'", abs, abs)
	}
	if err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("mount point %s is not a directory", abs)
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("mount point: %w", err)
	}
	names, _ := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 {
		return "", fmt.Errorf("mount point %s is not empty: sealfs mounts only on an empty directory so nothing is hidden", abs)
	}
	return abs, nil
}

// findMount scans mountinfo lines: field 5 is the mount point (octal
// escaped), and the type follows the " - " separator.
func findMount(r io.Reader, dir string) (string, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found, fstype := false, ""
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) {
				found, fstype = true, fields[i+1] // the last match is the visible one
			}
		}
	}
	return fstype, found
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isBusy reports whether err is the kernel refusing an unmount of a busy mount.
func isBusy(err error) bool { return errors.Is(err, syscall.EBUSY) }
