package tests

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/crypt"
)

// TestVersion: 'sealfs version' and '--version' say the same, with the
// vault format this binary writes; --json parses.
func TestVersion(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "any", nil)
	v := d.ok(nil, "version").stdout
	if flag := d.ok(nil, "--version").stdout; flag != v {
		t.Fatalf("--version says %q, version says %q", flag, v)
	}
	if !strings.HasPrefix(v, "sealfs ") || !strings.Contains(v, fmt.Sprintf("vault.json %d", crypt.VaultVersion)) {
		t.Fatalf("version output: %q", v)
	}
	var j struct {
		Version                               string
		VaultFormat                           int `json:"vault_format"`
		VaultFormatMin                        int `json:"vault_format_min"`
		ObjectFormat, HeadFormat, BatchFormat int
		Go, Platform                          string
	}
	if err := json.Unmarshal([]byte(d.ok(nil, "version", "--json").stdout), &j); err != nil {
		t.Fatal(err)
	}
	if j.Version == "" || j.VaultFormat != crypt.VaultVersion || j.VaultFormatMin != crypt.MinVaultVersion || j.Go == "" {
		t.Fatalf("version --json: %+v", j)
	}
}

// TestCompletion: a completion script for each shell; bash's parses.
func TestCompletion(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "any", nil)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out := d.ok(nil, "completion", sh).stdout
		if !strings.Contains(out, "sealfs") {
			t.Fatalf("completion %s: %q", sh, out[:min(200, len(out))])
		}
		if sh == "bash" {
			cmd := exec.Command("bash", "-n")
			cmd.Stdin = strings.NewReader(out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the bash completion does not parse: %v\n%s", err, b)
			}
		}
	}
	expectFail(t, d, nil, 2, []string{"tcsh", "bash, zsh or fish"}, "completion", "tcsh")
}

// TestInfoJSON: info --json on a new vault, with the documented keys.
func TestInfoJSON(t *testing.T) {
	t.Parallel()
	st := dirStore(t)
	d := newDevice(t, "any", st.env)
	pass := []string{"SEALFS_PASSPHRASE=info as json passphrase"}
	d.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)
	var info struct {
		Store        string
		ObjectFormat int `json:"object_format"`
		VaultFormat  int `json:"vault_format"`
		Cipher       string
		ChunkSize    int `json:"chunk_size"`
		KDF          struct {
			Algorithm string
			MemoryMiB int `json:"memory_mib"`
		}
		LastCommit *struct {
			Seq    uint64
			Time   string
			Device string
		} `json:"last_commit"`
		Lease *struct{ State string } `json:"writer_lease"`
		Data  struct{ Objects int }
		Meta  struct{ Objects int }
	}
	out := d.ok(pass, "info", "--json", st.location).stdout
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("info --json: %v\n%s", err, out)
	}
	if info.ObjectFormat != crypt.FormatVersion || info.VaultFormat != crypt.VaultVersion || info.Cipher == "" ||
		info.ChunkSize != crypt.DefaultChunkSize || info.KDF.Algorithm != "argon2id" || info.KDF.MemoryMiB != 64 ||
		info.LastCommit == nil || info.LastCommit.Seq != 1 || info.Lease == nil || info.Meta.Objects == 0 {
		t.Fatalf("info --json of a new vault:\n%s", out)
	}
}
