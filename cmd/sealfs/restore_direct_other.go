//go:build !linux

package main

// oDirect is 0 where restore does not use direct I/O: every write is an
// ordinary one.
const oDirect = 0

func directFS(string) bool { return false }
