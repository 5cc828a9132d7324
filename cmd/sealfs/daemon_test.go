package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// editedVaultStore serves the honest vault.json to the first read and an
// edited one (another chunk size, the MAC left as it was) to every later
// read: a bucket that shows the parent one vault and the daemon another.
type editedVaultStore struct {
	*remote.Memory
	edited []byte
	reads  int
}

func (s *editedVaultStore) Get(ctx context.Context, key string) ([]byte, remote.ObjectInfo, error) {
	b, info, err := s.Memory.Get(ctx, key)
	if key == layout.Vault && err == nil {
		if s.reads++; s.reads > 1 {
			b = s.edited
		}
	}
	return b, info, err
}

// TestDaemonChildUsesTheVerifiedVault: the daemon child mounts with the
// vault its parent verified (handed over with the key), whatever the
// store serves afterwards; a handed-over vault that does not match the
// key (edited on the way) is refused.
func TestDaemonChildUsesTheVerifiedVault(t *testing.T) {
	ctx := context.Background()
	v, _, rk, err := crypt.NewVault(rand.Reader, crypt.SuiteAES256GCM, 4<<20, []byte("a good passphrase"), crypt.MinKDF)
	if err != nil {
		t.Fatal(err)
	}
	honest, err := v.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(honest, &j); err != nil {
		t.Fatal(err)
	}
	j["chunk_size"] = 1 << 20
	edited, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.ParseVault(edited); err != nil {
		t.Fatalf("the edited vault must still parse (only its MAC is wrong): %v", err)
	}
	s := &editedVaultStore{Memory: remote.NewMemory(), edited: edited}
	if _, err := s.Put(ctx, layout.Vault, honest, remote.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rkFile := filepath.Join(t.TempDir(), "recovery-key")
	if err := os.WriteFile(rkFile, []byte(rk.Display()), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &app{stdin: bytes.NewReader(nil), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, recoveryKeyFile: rkFile}
	parent, err := a.unlock(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var pipe bytes.Buffer
	if err := writeHandover(&pipe, parent); err != nil {
		t.Fatal(err)
	}
	child, err := readHandover(bytes.NewReader(pipe.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if child.Keys.ChunkSize != 4<<20 || child.Vault.ChunkSize() != 4<<20 || child.Master != parent.Master {
		t.Errorf("the child mounts with chunk size %d (vault %d), want the verified 4 MiB", child.Keys.ChunkSize, child.Vault.ChunkSize())
	}
	if s.reads != 1 {
		t.Errorf("vault.json read %d times; the child must not read it again", s.reads)
	}

	// A handover whose vault is not the one the key's MAC covers.
	key := pipe.Bytes()[:32]
	var bad bytes.Buffer
	bad.Write(key)
	bad.Write([]byte{0, 0, byte(len(edited) >> 8), byte(len(edited))})
	bad.Write(edited)
	if _, err := readHandover(&bad); !errors.Is(err, crypt.ErrVaultModified) {
		t.Errorf("an edited vault handed over: %v, want ErrVaultModified", err)
	}
}
