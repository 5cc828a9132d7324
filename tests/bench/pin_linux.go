package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcess sets the CPU affinity of every thread of process pid to cpu.
// Threads started later inherit it from the thread that starts them, so
// the loop repeats until a pass finds no thread it had not pinned yet.
func pinProcess(pid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	done := map[int]bool{}
	for {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("pinning process %d: %w", pid, err)
		}
		fresh := 0
		for _, ent := range ents {
			tid, err := strconv.Atoi(ent.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pinning thread %d of process %d to CPU %d: %w", tid, pid, cpu, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
}

// checkPinnable says why --pin cannot work here, or nil.
func checkPinnable() error {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("--pin: cannot read the CPU affinity: %w", err)
	}
	if !set.IsSet(serverCPU) || !set.IsSet(clientCPU) {
		return fmt.Errorf("--pin needs CPUs %d and %d, this process may run on %d CPUs only (see taskset -p %d)",
			serverCPU, clientCPU, set.Count(), os.Getpid())
	}
	return nil
}
