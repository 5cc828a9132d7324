package fs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// threadGroup is the process id of thread tid (the Tgid of
// /proc/TID/status), 0 if it cannot be read (the thread is gone).
func threadGroup(tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Tgid:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n
		}
	}
	return 0
}
