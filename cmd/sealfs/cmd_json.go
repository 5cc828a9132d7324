package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/history"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// The --json output of info and check: exactly these keys, documented in
// docs/OPERATIONS.md ("JSON output"). Add keys, never rename or remove one.

type infoJSON struct {
	Store       string          `json:"store"`
	Format      int             `json:"object_format"` // crypt.FormatVersion
	VaultFormat int             `json:"vault_format"`  // vault.json's version
	Cipher      string          `json:"cipher"`
	ChunkSize   int             `json:"chunk_size"` // bytes
	KDF         infoKDF         `json:"kdf"`
	LastCommit  *infoCommit     `json:"last_commit"`                 // null when unreadable
	CommitError string          `json:"last_commit_error,omitempty"` // why it is unreadable
	Lease       *infoLease      `json:"writer_lease"`                // null when unreadable
	LeaseError  string          `json:"writer_lease_error,omitempty"`
	Data        usageCountJSON  `json:"data"`
	Meta        usageCountJSON  `json:"meta"`
	Other       *usageCountJSON `json:"other,omitempty"` // objects under any other prefix
}

type infoKDF struct {
	Algorithm string `json:"algorithm"` // "argon2id"
	MemoryMiB uint32 `json:"memory_mib"`
	Time      uint32 `json:"time"`
	Threads   uint8  `json:"threads"`
}

type infoCommit struct {
	Seq    uint64 `json:"seq"`
	Time   string `json:"time"` // RFC 3339, UTC
	Device string `json:"device"`
}

type infoLease struct {
	State   string `json:"state"`             // "none", "held" or "released"
	Device  string `json:"device,omitempty"`  // the holder, or the last one
	Renewed string `json:"renewed,omitempty"` // RFC 3339, UTC, the holder's clock
}

type usageCountJSON struct {
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// printInfoJSON is printInfo as one JSON object.
func (a *app) printInfoJSON(ctx context.Context, s remote.Store, u *unlocked, checkHead func(meta.Head) error) error {
	in, err := gatherInfo(ctx, s, u, checkHead)
	if err != nil {
		return err
	}
	kdf, usage := in.kdf, in.usage
	out := infoJSON{
		Store: s.String(), Format: crypt.FormatVersion, VaultFormat: u.Vault.Version(),
		Cipher: u.Vault.Suite().String(), ChunkSize: u.Vault.ChunkSize(),
		KDF:  infoKDF{Algorithm: "argon2id", MemoryMiB: kdf.MemoryMiB, Time: kdf.Time, Threads: kdf.Threads},
		Data: usageCountJSON{usage["data"].count, usage["data"].bytes},
		Meta: usageCountJSON{usage["meta"].count, usage["meta"].bytes},
	}
	if in.headErr != nil {
		out.CommitError = in.headErr.Error()
	} else {
		out.LastCommit = &infoCommit{Seq: in.head.Seq, Time: in.head.Time.UTC().Format(time.RFC3339), Device: in.head.Device}
	}
	if in.leaseErr != nil {
		out.LeaseError = in.leaseErr.Error()
	} else {
		out.Lease = &infoLease{State: in.lease.State.String(), Device: in.lease.Device}
		if !in.lease.Renewed.IsZero() {
			out.Lease.Renewed = in.lease.Renewed.UTC().Format(time.RFC3339)
		}
	}
	var other usageCountJSON
	for k, c := range usage {
		if k != "data" && k != "meta" {
			other.Objects += c.count
			other.Bytes += c.bytes
		}
	}
	if other.Objects > 0 {
		out.Other = &other
	}
	return a.writeJSON(out)
}

type checkJSON struct {
	Damaged      bool           `json:"damaged"`
	Snapshots    int            `json:"snapshots"` // catalog entries checked
	Objects      int            `json:"objects"`   // distinct data objects referenced
	Bytes        int64          `json:"bytes"`     // their stored bytes
	ReadData     bool           `json:"read_data"` // every object was downloaded and authenticated
	Damage       []damageJSON   `json:"damage"`
	Unreferenced usageCountJSON `json:"unreferenced"` // not damage: prune deletes them
}

type damageJSON struct {
	Path      string   `json:"path"`      // "" when the damage is not in one file
	Snapshots []string `json:"snapshots"` // "current" is the current files
	Object    string   `json:"object"`    // the store key at fault
	Problem   string   `json:"problem"`
}

// printCheckJSON is printCheck as one JSON object; damage still exits 12.
func (a *app) printCheckJSON(res *history.CheckResult, readData bool) error {
	out := checkJSON{
		Damaged: res.Damaged(), Snapshots: res.Snapshots, Objects: res.Objects, Bytes: res.Bytes, ReadData: readData,
		Damage:       []damageJSON{},
		Unreferenced: usageCountJSON{Objects: int64(len(res.Unreferenced)), Bytes: res.UnreferencedBytes},
	}
	for _, d := range res.Damage {
		snaps := d.Snapshots
		if snaps == nil {
			snaps = []string{}
		}
		out.Damage = append(out.Damage, damageJSON{Path: d.Path, Snapshots: snaps, Object: d.Object, Problem: d.Problem})
	}
	if err := a.writeJSON(out); err != nil {
		return err
	}
	if res.Damaged() {
		return withCode(exitDamage, fmt.Errorf("check found %d damaged items", len(res.Damage)), "")
	}
	return nil
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
