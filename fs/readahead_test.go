package fs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/faults"
)

// TestKernelReadAhead checks that a read-write mount (files opened through
// the kernel's page cache) gets a read-ahead window of one largest FUSE
// read: with the kernel's default of 128 KiB, cp and sha256sum reading in
// 128 KiB steps reached sealfs as one 128 KiB request per read(2), eight
// times the requests of the read-only mount's 1 MiB direct reads.
func TestKernelReadAhead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root may set a device's read_ahead_kb; others keep the kernel's window")
	}
	v := newVault(t, remote.NewMemory(), testChunk)
	mt := v.mount(t)
	var st syscall.Stat_t
	if err := syscall.Stat(mt.dir, &st); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %q", path, b)
	}
	if kb < kernelReadAheadKiB {
		t.Errorf("%s = %d KiB, want at least %d KiB", path, kb, kernelReadAheadKiB)
	}
}

// TestFolderReadAheadThroughMount: on a fresh device, reading a folder's
// first file also fetches the next files of the folder (the front door
// tells the engine the name a file was opened by: vault.File.Named), so a
// cp -a of the folder does not wait for a GET at every file; reading them
// then fetches nothing more.
func TestFolderReadAheadThroughMount(t *testing.T) {
	forEachFaultStore(t, func(t *testing.T, store *faults.Store, v *testVault) {
		mt := v.mount(t)
		ok(t, os.Mkdir(mt.path("d"), 0o755))
		const files = 4
		want := map[string][]byte{}
		for i := range files {
			name := fmt.Sprintf("d/f%d", i)
			want[name] = pattern(byte(i), testChunk/2) // one object each (not packed)
			ok(t, os.WriteFile(mt.path(name), want[name], 0o644))
		}
		mt.unmount(t)

		rd := v.mount(t) // a fresh device: nothing cached
		_, err := os.ReadDir(rd.path("d"))
		ok(t, err)
		gets := func() int { return store.Calls(faults.GetRange) + store.Calls(faults.Get) }
		before := gets()
		ok(t, hasContent(rd.path("d/f0"), want["d/f0"]))
		eventually(t, "the folder's next files fetched ahead", func() error {
			if n := gets() - before; n < files {
				return fmt.Errorf("%d range requests after reading the first of %d files, want %d: its own and the next files'", n, files, files)
			}
			return nil
		})
		for i := 1; i < files; i++ {
			name := fmt.Sprintf("d/f%d", i)
			ok(t, hasContent(rd.path(name), want[name]))
		}
		if n := gets() - before; n != files {
			t.Errorf("%d range requests for %d one-object files read in order, want %d: each object once", n, files, files)
		}
	})
}
