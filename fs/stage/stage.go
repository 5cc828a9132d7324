package stage

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/diskio"
)

// Names inside the stage directory.
const (
	DirName    = "stage"
	objectsDir = "objects"
	intentName = "intent"
	tmpSuffix  = diskio.TempSuffix
)

// intentInfo is the HKDF info that derives the intent key from Keys.Local,
// so that no other local record (the state file is sealed with Local
// itself) can be opened as an intent, or the other way round.
const intentInfo = "sealfs stage intent v1"

// Dir is the staging area of one vault on this device. Its methods are
// safe for concurrent use on different objects; the intent is written by
// one goroutine at a time (the caller serialises commits).
type Dir struct {
	path string
	key  crypt.Key
	rand io.Reader

	mu       sync.Mutex
	unsynced []crypt.ObjectID // objects written since the last Sync
	intent   intentState      // what this Dir knows of the intent on disk
}

// intentState is how the intent on disk was written.
type intentState int

const (
	intentNone    intentState = iota // none, or removed
	intentCached                     // by WriteIntentCached, not flushed
	intentDurable                    // by WriteIntent, or found at open
)

// Open opens (creating it if needed) the staging area under cacheDir and
// removes the temporary files of writes that a crash interrupted. local
// is the vault's Keys.Local; rnd may be nil (crypto/rand).
func Open(cacheDir string, local crypt.Key, rnd io.Reader) (*Dir, error) {
	d := &Dir{path: filepath.Join(cacheDir, DirName), rand: rnd}
	k, err := hkdf.Key(sha256.New, local[:], nil, intentInfo, crypt.KeySize)
	if err != nil {
		return nil, fmt.Errorf("stage: derive intent key: %w", err)
	}
	copy(d.key[:], k)
	if err := os.MkdirAll(filepath.Join(d.path, objectsDir), 0o700); err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	for _, sub := range []string{d.path, filepath.Join(d.path, objectsDir)} {
		ents, err := os.ReadDir(sub)
		if err != nil {
			return nil, fmt.Errorf("stage: %w", err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), tmpSuffix) {
				_ = os.Remove(filepath.Join(sub, e.Name()))
			}
		}
	}
	return d, nil
}

// Path is the staging directory.
func (d *Dir) Path() string { return d.path }

func (d *Dir) objectPath(id crypt.ObjectID) string {
	return filepath.Join(d.path, objectsDir, id.String())
}

// PutObject stores the sealed chunk object id, complete or not at all. It
// is durable after the next Sync (WriteIntent syncs first): one flush per
// commit instead of one per object, which matters for many small files.
func (d *Dir) PutObject(id crypt.ObjectID, sealed []byte) error {
	if err := diskio.WriteFile(d.objectPath(id), sealed, false); err != nil {
		return fmt.Errorf("stage: object %s: %w", id, err)
	}
	d.mu.Lock()
	d.unsynced = append(d.unsynced, id)
	d.mu.Unlock()
	return nil
}

// Sync makes every object put so far durable.
func (d *Dir) Sync() error {
	d.mu.Lock()
	ids := d.unsynced
	d.unsynced = nil
	d.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	if err := d.syncObjects(ids); err != nil {
		d.mu.Lock()
		d.unsynced = append(d.unsynced, ids...)
		d.mu.Unlock()
		return fmt.Errorf("stage: sync: %w", err)
	}
	return nil
}

// ReadObject returns the sealed bytes of staged object id; an error
// matching fs.ErrNotExist if it is not staged.
func (d *Dir) ReadObject(id crypt.ObjectID) ([]byte, error) {
	b, err := os.ReadFile(d.objectPath(id))
	if err != nil {
		return nil, fmt.Errorf("stage: object %s: %w", id, err)
	}
	return b, nil
}

// ReadObjectRange returns n sealed bytes of staged object id from off (fewer
// at the end), like remote.Store.GetRange.
func (d *Dir) ReadObjectRange(id crypt.ObjectID, off, n int64) ([]byte, error) {
	f, err := os.Open(d.objectPath(id))
	if err != nil {
		return nil, fmt.Errorf("stage: object %s: %w", id, err)
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("stage: object %s: %w", id, err)
	}
	return buf[:k], nil
}

// RemoveObject forgets staged object id (uploaded, or not needed).
func (d *Dir) RemoveObject(id crypt.ObjectID) error {
	err := os.Remove(d.objectPath(id))
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("stage: remove object %s: %w", id, err)
	}
	return nil
}

// Objects lists the staged objects and their sizes. Files that are not
// named like an object id are not sealfs's and are left alone.
func (d *Dir) Objects() (map[crypt.ObjectID]int64, error) {
	ents, err := os.ReadDir(filepath.Join(d.path, objectsDir))
	if err != nil {
		return nil, fmt.Errorf("stage: %w", err)
	}
	out := make(map[crypt.ObjectID]int64, len(ents))
	for _, e := range ents {
		id, err := crypt.ParseObjectID(e.Name())
		if err != nil || id.String() != e.Name() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out[id] = info.Size()
	}
	return out, nil
}

// WriteIntent replaces the intent log with in, durably, after making the
// staged objects durable (an intent never names an object a crash could
// lose).
func (d *Dir) WriteIntent(in *Intent) error {
	sealed, err := in.seal(d.rand, d.key)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return err
	}
	if err := diskio.WriteFile(filepath.Join(d.path, intentName), sealed, true); err != nil {
		return fmt.Errorf("stage: write intent: %w", err)
	}
	d.setIntent(intentDurable)
	return nil
}

// WriteIntentCached replaces the intent log with in, atomically (a reader
// sees the old intent or the new one whole) but without waiting for the
// disk: the file system's cache keeps it when the process dies (kill -9,
// a panic), a power cut may not. It is for a commit attempt that names
// only objects already in the store and takes milliseconds (fsync(2) of a
// file whose data is uploaded: docs/SECURITY.md, "Crash safety"); an
// attempt that waits or fails writes the intent again with WriteIntent.
// It writes durably instead while a durable intent is on disk (an
// attempt before this one failed or waited): a power cut must not
// replace that intent with a lost one.
func (d *Dir) WriteIntentCached(in *Intent) error {
	if d.intentState() == intentDurable {
		return d.WriteIntent(in)
	}
	sealed, err := in.seal(d.rand, d.key)
	if err != nil {
		return err
	}
	if err := diskio.WriteFile(filepath.Join(d.path, intentName), sealed, false); err != nil {
		return fmt.Errorf("stage: write intent: %w", err)
	}
	d.setIntent(intentCached)
	return nil
}

// ReadIntent returns the intent log, nil if there is none. One that does
// not authenticate or parse is an error wrapping crypt.ErrAuth.
func (d *Dir) ReadIntent() (*Intent, error) {
	sealed, err := os.ReadFile(filepath.Join(d.path, intentName))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stage: read intent: %w", err)
	}
	if len(sealed) == 0 {
		// A cached intent (WriteIntentCached) whose data a power cut
		// lost after its name was written: its attempt's changes were
		// never acknowledged, and its content is gone. A durable intent
		// is never empty (its data is synced before the rename).
		return nil, nil
	}
	in, err := openIntent(d.key, sealed)
	if err != nil {
		return nil, fmt.Errorf("stage: %s: %w", filepath.Join(d.path, intentName), err)
	}
	d.setIntent(intentDurable) // on disk since an earlier mount: keep it until replaced durably
	return in, nil
}

// IntentCached reports whether the intent on disk was written by
// WriteIntentCached (and not made durable since).
func (d *Dir) IntentCached() bool { return d.intentState() == intentCached }

func (d *Dir) intentState() intentState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.intent
}

func (d *Dir) setIntent(st intentState) {
	d.mu.Lock()
	d.intent = st
	d.mu.Unlock()
}

// RemoveIntent deletes the intent log (its changes are committed), durably
// unless it was written by WriteIntentCached: a cached intent that a power
// cut brings back is obsolete (its writer committed after its base: see
// docs/FORMAT.md, "Staging area"), and the next intent replaces it.
func (d *Dir) RemoveIntent() error {
	err := os.Remove(filepath.Join(d.path, intentName))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stage: remove intent: %w", err)
	}
	d.mu.Lock()
	was := d.intent
	d.intent = intentNone
	d.mu.Unlock()
	if was == intentCached {
		return nil
	}
	return diskio.SyncDir(d.path)
}

// Quarantine moves everything staged into a sibling directory named after
// now ("stage.unreadable-<time>") and starts an empty staging area; for an
// intent that cannot be opened, which must never be deleted silently. It
// returns the new directory.
func (d *Dir) Quarantine(now time.Time) (string, error) {
	var b [4]byte
	_, _ = io.ReadFull(randOr(d.rand), b[:])
	to := fmt.Sprintf("%s.unreadable-%s-%s", d.path, now.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
	if err := os.Rename(d.path, to); err != nil {
		return "", fmt.Errorf("stage: quarantine: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(d.path, objectsDir), 0o700); err != nil {
		return to, fmt.Errorf("stage: %w", err)
	}
	return to, nil
}
