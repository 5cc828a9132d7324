package crypt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

const (
	vaultMagic   = "sealfs-vault"
	maxVaultSize = 64 << 10
	kdfArgon2id  = "argon2id"
	kdfHKDF      = "hkdf-sha256"
)

// vaultJSON is the wire form of vault.json (docs/FORMAT.md). Byte fields are
// lowercase hex.
type vaultJSON struct {
	Format    string     `json:"format"`
	Version   int        `json:"version"`
	ID        string     `json:"id"`
	Suite     string     `json:"suite"`
	ChunkSize int        `json:"chunk_size"`
	Slots     []slotJSON `json:"slots"`
	MAC       string     `json:"mac"`
}

type slotJSON struct {
	Type       string  `json:"type"`
	KDF        kdfJSON `json:"kdf"`
	Salt       string  `json:"salt"`
	Nonce      string  `json:"nonce"`
	WrappedKey string  `json:"wrapped_key"`
}

type kdfJSON struct {
	Name      string `json:"name"`
	Time      uint32 `json:"time,omitempty"`
	MemoryMiB uint32 `json:"memory_mib,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
}

// Marshal encodes the vault as indented JSON ending in a newline. Parsing
// the result and marshalling again gives the same bytes.
func (v *Vault) Marshal() ([]byte, error) {
	j := vaultJSON{
		Format: vaultMagic, Version: int(v.version), ID: hex.EncodeToString(v.id[:]),
		Suite: v.suite.String(), ChunkSize: v.chunkSize, MAC: hex.EncodeToString(v.mac[:]),
	}
	for _, s := range v.slots {
		sj := slotJSON{
			Type: s.typ.String(), Salt: hex.EncodeToString(s.salt[:]),
			Nonce: hex.EncodeToString(s.nonce[:]), WrappedKey: hex.EncodeToString(s.wrapped[:]),
			KDF: kdfJSON{Name: kdfHKDF},
		}
		if s.typ == SlotPassphrase {
			sj.KDF = kdfJSON{Name: kdfArgon2id, Time: s.kdf.Time, MemoryMiB: s.kdf.MemoryMiB, Threads: s.kdf.Threads}
		}
		j.Slots = append(j.Slots, sj)
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("crypt: encoding vault: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseVault parses vault.json and checks its structure: magic, version,
// suite, chunk size, slot types, field lengths, and every passphrase slot's
// KDF parameters against MinKDF/MaxKDF. Any problem is a *ParseError naming
// the field (KDF bounds wrap a *KDFParamError). The MAC can only be checked
// after unlocking (Unlock*, Verify).
func ParseVault(data []byte) (*Vault, error) {
	if len(data) > maxVaultSize {
		return nil, parseErr("vault.json", "", "%d bytes, larger than the maximum %d", len(data), maxVaultSize)
	}
	var j vaultJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, &ParseError{What: "vault.json", Msg: "not valid vault JSON", Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, parseErr("vault.json", "", "trailing data after the JSON object")
	}
	if j.Format != vaultMagic {
		return nil, parseErr("vault.json", "format", "%q is not %q: not a sealfs vault", j.Format, vaultMagic)
	}
	if j.Version < MinVaultVersion || j.Version > VaultVersion {
		return nil, parseErr("vault.json", "version", "unsupported vault version %d (this sealfs reads %d to %d): upgrade sealfs", j.Version, MinVaultVersion, VaultVersion)
	}
	v := &Vault{version: byte(j.Version), chunkSize: j.ChunkSize}
	var err error
	if v.suite, err = ParseSuite(j.Suite); err != nil || j.Suite != v.suite.String() {
		return nil, parseErr("vault.json", "suite", "unknown cipher suite %q", j.Suite)
	}
	if err := checkVaultParams(v.suite, v.chunkSize); err != nil {
		return nil, parseErr("vault.json", "chunk_size", "%d is not a positive multiple of %d up to %d", j.ChunkSize, SegmentSize, MaxObjectSize)
	}
	if err := decodeHex(v.id[:], j.ID, "id"); err != nil {
		return nil, err
	}
	if err := decodeHex(v.mac[:], j.MAC, "mac"); err != nil {
		return nil, err
	}
	if len(j.Slots) == 0 || len(j.Slots) > maxSlots {
		return nil, parseErr("vault.json", "slots", "%d key slots, want 1 to %d", len(j.Slots), maxSlots)
	}
	for i, sj := range j.Slots {
		s, err := parseSlot(sj, fmt.Sprintf("slots[%d]", i))
		if err != nil {
			return nil, err
		}
		v.slots = append(v.slots, s)
	}
	return v, nil
}

func parseSlot(sj slotJSON, field string) (slot, error) {
	var s slot
	switch sj.Type {
	case "passphrase":
		s.typ = SlotPassphrase
		if sj.KDF.Name != kdfArgon2id {
			return slot{}, parseErr("vault.json", field+".kdf.name", "%q, want %q", sj.KDF.Name, kdfArgon2id)
		}
		s.kdf = KDFParams{Time: sj.KDF.Time, MemoryMiB: sj.KDF.MemoryMiB, Threads: sj.KDF.Threads}
		if err := s.kdf.Validate(); err != nil {
			var pe *KDFParamError
			errors.As(err, &pe)
			return slot{}, &ParseError{What: "vault.json", Field: field + ".kdf." + pe.Param,
				Msg: "refusing to run the key derivation", Err: err}
		}
	case "recovery":
		s.typ = SlotRecovery
		if sj.KDF != (kdfJSON{Name: kdfHKDF}) {
			return slot{}, parseErr("vault.json", field+".kdf", "want {\"name\": %q} only", kdfHKDF)
		}
	default:
		return slot{}, parseErr("vault.json", field+".type", "unknown key slot type %q", sj.Type)
	}
	if err := decodeHex(s.salt[:], sj.Salt, field+".salt"); err != nil {
		return slot{}, err
	}
	if err := decodeHex(s.nonce[:], sj.Nonce, field+".nonce"); err != nil {
		return slot{}, err
	}
	if err := decodeHex(s.wrapped[:], sj.WrappedKey, field+".wrapped_key"); err != nil {
		return slot{}, err
	}
	return s, nil
}

// decodeHex decodes exactly len(dst) bytes of lowercase hex.
func decodeHex(dst []byte, s, field string) error {
	if len(s) != 2*len(dst) {
		return parseErr("vault.json", field, "%d hex digits, want %d", len(s), 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil || hex.EncodeToString(dst) != s {
		return parseErr("vault.json", field, "not lowercase hex")
	}
	return nil
}
