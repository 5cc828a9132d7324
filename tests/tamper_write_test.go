package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

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
	k := fx.analyses["final"].ofFile[wc.file][wc.chunk]
	st[k] = flipByte(st[k], wc.at(len(st[k])))
	loc := fx.upload(t, st)
	dev := newDevice(t, "reader", fx.env)
	mnt := dev.mount(fx.recovery(), loc)
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
	mnt = other.mount(fx.recovery(), loc, "--read-only")
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
