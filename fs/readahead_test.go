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
