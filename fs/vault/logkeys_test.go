package vault

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/fs/stage"
	"github.com/sealfs/sealfs/remote"
)

// TestRecoveryErrorNamesNoFile: setting a recovered file aside can fail
// (here: a parent of its path is a file), and the mount logs the error;
// its text names no file, since only LogPath attributes may carry names
// (the CLI hides them without --verbose).
func TestRecoveryErrorNamesNoFile(t *testing.T) {
	ctx := context.Background()
	v := newVault(t, remote.NewMemory(), testChunk)
	fsys, err := Open(ctx, Options{Store: v.store, Keys: v.keys, ReadOnly: true})
	ok(t, err)
	defer fsys.Close(ctx)
	_, err = fsys.Tree().Create(meta.RootIno, "secret-parent", 0o644, 0, 0, now())
	ok(t, err)
	err = fsys.restoreFile(meta.RootIno, stage.File{Path: "secret-parent/secret-name", Mode: syscall.S_IFREG | 0o644})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("restoreFile under a file: %v, want an error that names no file", err)
	}
}
