package main

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The --pin mode stands in for a remote S3 endpoint on a small machine:
// the server side (MinIO and the counting proxy, which a deployment does
// not have) runs on serverCPU, everything on the client side (this
// process with the raw minio-go client and the benchmark's reader and
// writer, the sealfs processes it starts, cp and sha256sum) on clientCPU.
// Without it, MinIO takes its share of the same cores and a ratio to the
// raw ceiling mostly measures how the machine's CPU was shared.
const (
	serverCPU = 0
	clientCPU = 1
)

// processByArg finds a process whose command line holds arg (an address
// or a path unique to the run), other than this one.
func processByArg(exe, arg string) int {
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == exe && contains(args[1:], arg) {
			return pid
		}
	}
	return 0
}

// clockTick is USER_HZ, the unit of the times in /proc/PID/stat (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time (user + system) process pid has used so far,
// all its threads, living or exited.
func cpuTime(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: count from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 { // fields 3.. ; utime and stime are fields 14 and 15
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * clockTick, true
}

// floor is the CPU a mount cannot avoid per MiB of file data, measured in
// this process on this machine: AES-256-GCM over 64 KiB segments (sealfs's
// segment size) and the two copies every byte takes through the mount
// process (read: the socket into the mount's buffer, the FUSE reply into
// the kernel; write: the FUSE request into the mount, the mount's buffer
// into the socket).
type floor struct {
	Seal, Open, Copy time.Duration // per MiB
}

// least is the floor of the faster of f and g in each part.
func (f floor) least(g floor) floor {
	return floor{Seal: min(f.Seal, g.Seal), Open: min(f.Open, g.Open), Copy: min(f.Copy, g.Copy)}
}

func (f floor) read() time.Duration  { return f.Open + 2*f.Copy }
func (f floor) write() time.Duration { return f.Seal + 2*f.Copy }

func (f floor) String() string {
	return fmt.Sprintf("per MiB: AES-GCM open %s, seal %s, a copy %s; read = open + 2 copies, write = seal + 2 copies", us(f.Open), us(f.Seal), us(f.Copy))
}

// measureFloor times seal, open and copy over 64 MiB, out of the CPU
// caches as the mount's data is, in CPU time of the measuring thread, and
// keeps the fastest of five rounds (the machine is shared: the fastest
// round had the CPU's caches to itself).
// Pinned to the client CPU like the mount it is compared with.
func measureFloor() floor {
	const total = 64 << 20
	const seg = 64 << 10
	key := make([]byte, 32)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	plain := make([]byte, total)
	for i := range plain {
		plain[i] = byte(i * 7)
	}
	sealed := make([]byte, 0, total/seg*(seg+gcm.Overhead()))
	dst := make([]byte, total)
	// CPU time of this thread, not wall time: on a loaded machine a round
	// may wait for the CPU, which is no part of the cost per MiB.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := func(f func()) time.Duration { return bestCPU(5, f) / (total >> 20) }
	var fl floor
	fl.Seal = best(func() {
		sealed = sealed[:0]
		for off := 0; off < total; off += seg {
			sealed = gcm.Seal(sealed, nonce, plain[off:off+seg], nil)
		}
	})
	segC := seg + gcm.Overhead()
	fl.Open = best(func() {
		for i := 0; i < total/seg; i++ {
			if _, err := gcm.Open(dst[i*seg:i*seg], nonce, sealed[i*segC:(i+1)*segC], nil); err != nil {
				panic(err)
			}
		}
	})
	fl.Copy = best(func() {
		for off := 0; off < total; off += 1 << 20 {
			copy(dst[off:off+1<<20], plain[off:off+1<<20])
		}
	})
	return fl
}

// threadCPU is the CPU time of the calling thread (lock it first).
func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// bestCPU is the least thread CPU time f took in n runs.
func bestCPU(n int, f func()) time.Duration {
	b := time.Duration(1 << 62)
	for range n {
		t0 := threadCPU()
		f()
		b = min(b, threadCPU()-t0)
	}
	return b
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
