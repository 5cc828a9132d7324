package main

import "syscall"

// oDirect opens a file for direct I/O: writes go from the process's
// buffer to the disk without a copy into the page cache.
const oDirect = syscall.O_DIRECT
