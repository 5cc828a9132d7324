// Package diskio writes the engine's local files crash-safely: whole, under
// their final name only once complete, and durable when asked. One copy for
// the staging area (fs/stage) and the device state (fs/localstate).
package diskio

import (
	"os"
	"path/filepath"
)

// TempSuffix ends the name of a file being written (path + TempSuffix);
// a reader that finds one left by a crash deletes it.
const TempSuffix = ".tmp"

// WriteFile replaces path with data: it writes path+TempSuffix (mode
// 0600), fsyncs it if sync, and renames it over path; with sync it then
// fsyncs the directory too, so that the new name survives a crash. A
// failed write leaves path as it was and removes the temporary file.
// Concurrent writers of one path must be serialised by the caller.
func WriteFile(path string, data []byte, sync bool) error {
	tmp := path + TempSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if sync {
		return SyncDir(filepath.Dir(path))
	}
	return nil
}

// SyncDir fsyncs directory dir, making the names in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
