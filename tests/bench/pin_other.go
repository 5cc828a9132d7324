//go:build !linux

package main

import "errors"

// The benchmark drives FUSE mounts and pins processes with Linux calls;
// elsewhere it only builds (the project builds for macOS).
func pinProcess(pid, cpu int) error { return errors.New("--pin needs Linux") }

func checkPinnable() error { return errors.New("--pin needs Linux") }
