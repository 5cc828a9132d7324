package localstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/lease"
)

// FileName is the state file's name inside the directory given to Open.
const FileName = "state.slots"

// legacyFileName is the state file of sealfs before the two-slot layout
// (one sealed record, payload version 1). Its state is carried over by the
// first save, which then leaves a stub there (payload version 2 and
// nothing else) that an older sealfs refuses as "written by a newer sealfs".
const legacyFileName = "state"

// payloadWhat names the purpose of the sealed payload, so that another
// local file sealed under the same key and record kind cannot stand in
// for the state file.
const payloadWhat = "sealfs local state"

const (
	payloadVersion       = 2
	legacyPayloadVersion = 1 // in legacyFileName
)

// payload is the sealed content of the state file (JSON, fields below;
// docs/FORMAT.md "Local state file"):
type payload struct {
	What    string    `json:"what"` // payloadWhat
	Version int       `json:"v"`    // payloadVersion
	High    *commit   `json:"high,omitempty"`
	Lease   *sighting `json:"lease_seen,omitempty"`
	Mount   string    `json:"last_mount,omitempty"` // SetMount

	// Version 2 only:
	Save   uint64 `json:"n,omitempty"`      // save counter, from 1: the highest wins
	Copy   bool   `json:"copy,omitempty"`   // the unsynced copy written after a save
	Legacy bool   `json:"legacy,omitempty"` // legacyFileName may still hold a version 1 state
}

// commit is the highest commit this device has seen.
type commit struct {
	Seq     uint64 `json:"seq"`
	TimeNS  int64  `json:"time_ns"` // the writer's clock, Unix ns
	Device  string `json:"device"`
	MountID string `json:"mount_id"`
}

// sighting is the lease version this device saw first at FirstNS (its clock).
type sighting struct {
	Version string `json:"version"`
	FirstNS int64  `json:"first_seen_ns"`
}

// State is this device's sealed memory of one vault. Its methods are safe
// for concurrent use within one process.
type State struct {
	dir, path string
	key       crypt.Key

	mu sync.Mutex
	p  payload
	// Which fields this State has set: they win over the file's when
	// saving merges in what other processes wrote.
	ownLease, ownMount bool
}

var _ lease.Observer = (*State)(nil)

// Open reads the state file in dir (creating dir with mode 0700 if needed,
// and tightening it to 0700 if it is looser). A missing file is a fresh
// state: this device has not seen the vault before. A file that cannot be
// read, authenticated or parsed is a *FileError and is never replaced
// silently: that would reset the high-water mark and so disable rollback
// detection.
func Open(dir string, key crypt.Key) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstate: create %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("localstate: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("localstate: restrict %s to its owner: %w", dir, err)
		}
	}
	s := &State{dir: dir, path: filepath.Join(dir, FileName), key: key}
	p, err := readState(dir, key)
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = &payload{What: payloadWhat, Version: payloadVersion}
	}
	s.p = *p
	return s, nil
}

// FileError reports a state file that cannot be used.
type FileError struct {
	Path string
	Err  error // wraps crypt.ErrAuth for a damaged, edited or foreign file
}

func (e *FileError) Error() string {
	why := "it was damaged or edited, or belongs to another vault"
	var pe *fs.PathError
	if errors.As(e.Err, &pe) {
		why = "check its permissions and the disk"
	}
	return fmt.Sprintf("local state file %s cannot be used (%v): %s; "+
		"remove %s to trust the store as a new device would (rollback detection then restarts from the store's current commit)",
		e.Path, e.Err, why, e.Path)
}

func (e *FileError) Unwrap() error { return e.Err }

// decode opens a slot's record: payload version 2.
func decode(key crypt.Key, sealed []byte) (payload, error) {
	p, err := decodeAny(key, sealed)
	if err != nil {
		return payload{}, err
	}
	if p.Version != payloadVersion {
		return payload{}, versionError(p.Version)
	}
	return p, nil
}

func versionError(v int) error {
	if v > payloadVersion {
		return fmt.Errorf("state version %d (this sealfs reads %d; written by a newer sealfs?)", v, payloadVersion)
	}
	return fmt.Errorf("state version %d where this sealfs writes %d", v, payloadVersion)
}

// decodeLegacy opens legacyFileName: a version 1 state, or (stub) the
// version 2 stub left when the state moved to FileName.
func decodeLegacy(key crypt.Key, sealed []byte) (p payload, stub bool, err error) {
	p, err = decodeAny(key, sealed)
	if err != nil {
		return payload{}, false, err
	}
	switch {
	case p.Version == legacyPayloadVersion && p.Save == 0 && !p.Copy && !p.Legacy:
		return p, false, nil
	case p.Version == payloadVersion && p == payload{What: payloadWhat, Version: payloadVersion}:
		return p, true, nil
	case p.Version == legacyPayloadVersion || p.Version == payloadVersion:
		return payload{}, false, fmt.Errorf("malformed state: fields of another version")
	}
	return payload{}, false, versionError(p.Version)
}

func decodeAny(key crypt.Key, sealed []byte) (payload, error) {
	plain, err := crypt.OpenRecord(key, crypt.KindLocal, 0, sealed)
	if err != nil {
		return payload{}, err
	}
	defer clear(plain)
	var p payload
	d := json.NewDecoder(bytes.NewReader(plain))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return payload{}, fmt.Errorf("malformed state: %w", err)
	}
	if d.More() {
		return payload{}, errors.New("malformed state: trailing data")
	}
	if p.What != payloadWhat {
		return payload{}, fmt.Errorf("not a state file (%q)", p.What)
	}
	return p, nil
}

// Path is the state file's path.
func (s *State) Path() string { return s.path }

// Seen implements lease.Observer: when this device first saw the lease
// version, if it is the one it remembers.
func (s *State) Seen(version string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p.Lease == nil || s.p.Lease.Version != version {
		return time.Time{}, false
	}
	return time.Unix(0, s.p.Lease.FirstNS), true
}

// Record implements lease.Observer: it remembers version as first seen at
// t (replacing any other) and saves the state.
func (s *State) Record(version string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.Lease, s.ownLease = &sighting{Version: version, FirstNS: t.UnixNano()}, true
	return s.save(false)
}

// LastMount is the mount id recorded by the last SetMount, by this or an
// earlier process ("" if none). A process that holds Lock knows that mount
// is no longer running (lease.Options.Reclaim).
func (s *State) LastMount() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.Mount
}

// SetMount records the mount id of this device's read-write mount, once it
// holds the lease, and saves the state.
func (s *State) SetMount(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p.Mount, s.ownMount = id, true
	return s.save(false)
}
