package localstate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/internal/diskio"
	"github.com/sealfs/sealfs/fs/meta"
)

// v1payload, legacySeal and legacyWrite are the state file writer of sealfs
// before the two-slot layout (payload version 1, one sealed record in
// legacyFileName, replaced by diskio.WriteFile), frozen here.
type v1payload struct {
	What  string    `json:"what"`
	V     int       `json:"v"`
	High  *commit   `json:"high,omitempty"`
	Lease *sighting `json:"lease_seen,omitempty"`
	Mount string    `json:"last_mount,omitempty"`
}

func legacySeal(k crypt.Key, p *v1payload) ([]byte, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return crypt.SealRecord(nil, k, crypt.KindLocal, 0, plain)
}

// legacyWrite writes legacyFileName as the older sealfs did after
// Observe(head(seq, "laptop", ...)), SetMount("old-mount") and a lease
// sighting.
func legacyWrite(t testing.TB, dir string, k crypt.Key, seq uint64) {
	t.Helper()
	h := head(seq, "laptop", "2026-11-25 09:00")
	sealed, err := legacySeal(k, &v1payload{What: "sealfs local state", V: 1,
		High:  &commit{Seq: h.Seq, TimeNS: h.Time.UnixNano(), Device: h.Device, MountID: h.MountID},
		Lease: &sighting{Version: "old-lease", FirstNS: 7}, Mount: "old-mount"})
	if err != nil {
		t.Fatal(err)
	}
	if err := diskio.WriteFile(filepath.Join(dir, legacyFileName), sealed, true); err != nil {
		t.Fatal(err)
	}
}

// legacyObserve is the older sealfs's Observe on a State that holds
// nothing yet: flock, read and open the file, merge, seal, write it
// through a temporary file (two fsyncs, a rename). For the benchmark.
func legacyObserve(dir string, k crypt.Key, h meta.Head) error {
	unlock, err := flock(filepath.Join(dir, saveLockName))
	if err != nil {
		return err
	}
	defer unlock()
	p := v1payload{What: "sealfs local state", V: 1}
	path := filepath.Join(dir, legacyFileName)
	if sealed, err := os.ReadFile(path); err == nil {
		cur, _, err := decodeLegacy(k, sealed)
		if err != nil {
			return err
		}
		p.Lease, p.Mount = cur.Lease, cur.Mount
	}
	p.High = &commit{Seq: h.Seq, TimeNS: h.Time.UnixNano(), Device: h.Device, MountID: h.MountID}
	sealed, err := legacySeal(k, &p)
	if err != nil {
		return err
	}
	return diskio.WriteFile(path, sealed, true)
}

// rawSlots reads the state file's slots as they are.
func rawSlots(t *testing.T, dir string, k crypt.Key) (file []byte, size int, p [2]payload, errs [2]error) {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	size = len(file) / 2
	for i := range 2 {
		p[i], errs[i] = readSlot(file[i*size:(i+1)*size], k)
	}
	return file, size, p, errs
}

// Each save writes the slot not holding the newest record, with the next
// counter, and then a copy into the other one; a reopen reads the last.
func TestSavesAlternateSlots(t *testing.T) {
	dir, k := t.TempDir(), newKey(t)
	s := mustOpen(t, dir, k)
	last := -1
	for seq := uint64(1); seq <= 7; seq++ {
		if err := s.Observe(head(seq, "laptop", "2026-11-25 09:00")); err != nil {
			t.Fatal(err)
		}
		file, _, p, errs := rawSlots(t, dir, k)
		if len(file) != 2*slotUnit || errs[0] != nil || errs[1] != nil {
			t.Fatalf("after save %d: %d bytes, slots %v, %v", seq, len(file), errs[0], errs[1])
		}
		orig := 0
		if p[0].Copy {
			orig = 1
		}
		o, c := p[orig], p[1-orig]
		if o.Copy || !c.Copy || o.Save != seq || c.Save != seq || o.High.Seq != seq || c.High.Seq != seq {
			t.Fatalf("after save %d: slot %d %+v, slot %d %+v; want the save and its copy", seq, orig, o, 1-orig, c)
		}
		if seq > 1 && orig == last {
			t.Fatalf("save %d wrote slot %d again, which held the only synced record", seq, orig)
		}
		last = orig
		if c, _ := mustOpen(t, dir, k).HighWater(); c.Seq != seq {
			t.Fatalf("after save %d a reopen reads #%d", seq, c.Seq)
		}
	}
}

// A power cut while a save writes its slot leaves that slot torn, and the
// copy of the newest state was never written back: the other slot holds
// the state before that save, which is read; the next save writes over the
// torn slot.
func TestTornSlotReadsPrevious(t *testing.T) {
	k := newKey(t)
	for name, tear := range map[string]func(now, before []byte) []byte{
		"garbage":          func(now, _ []byte) []byte { return bytes.Repeat([]byte{0xa5}, len(now)) },
		"zeros":            func(now, _ []byte) []byte { return make([]byte, len(now)) },
		"truncated record": func(now, _ []byte) []byte { b := bytes.Clone(now); clear(b[100:]); return b },
		// The record is shorter than a sector: a tear inside one.
		"new head": func(now, before []byte) []byte { return append(bytes.Clone(now[:64]), before[64:]...) },
		"old head": func(now, before []byte) []byte { return append(bytes.Clone(before[:64]), now[64:]...) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, k)
			for seq := uint64(1); seq <= 4; seq++ {
				if err := s.Observe(head(seq, "laptop", "2026-11-25 09:00")); err != nil {
					t.Fatal(err)
				}
			}
			before, size, _, _ := rawSlots(t, dir, k)
			if err := s.Observe(head(5, "laptop", "2026-11-25 10:00")); err != nil {
				t.Fatal(err)
			}
			now, _, p, _ := rawSlots(t, dir, k)
			w := 0 // the slot save #5 wrote
			if p[0].Copy {
				w = 1
			}
			// On disk: the slot save #5 wrote is torn; the other one holds
			// #4 as synced (its copy of #5 never written back).
			disk := bytes.Clone(before)
			copy(disk[w*size:], tear(now[w*size:(w+1)*size], before[w*size:(w+1)*size]))
			if err := os.WriteFile(filepath.Join(dir, FileName), disk, 0o600); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, dir, k)
			if c, ok := s.HighWater(); !ok || c.Seq != 4 {
				t.Fatalf("after a torn save of #5: mark #%d, %v; want #4", c.Seq, ok)
			}
			if err := s.Observe(head(6, "laptop", "2026-11-25 11:00")); err != nil {
				t.Fatal(err)
			}
			_, _, p, errs := rawSlots(t, dir, k)
			if errs[w] != nil || p[w].Copy || p[w].Save != 5 || errs[1-w] != nil {
				t.Errorf("the next save did not write the torn slot %d: %+v %v, other %v", w, p[w], errs[w], errs[1-w])
			}
			if c, _ := mustOpen(t, dir, k).HighWater(); c.Seq != 6 {
				t.Errorf("after the next save: #%d, want #6", c.Seq)
			}
		})
	}
}

// A directory written by the older sealfs (legacyFileName only) opens with
// its state; the first save carries it into FileName and leaves the stub,
// which the older reader refuses. A crash between the steps never leaves a
// directory without the newest state.
func TestOlderLayoutCarriedOver(t *testing.T) {
	k := newKey(t)
	olderReader := func(dir string) error { // the older sealfs's decode
		b, err := os.ReadFile(filepath.Join(dir, legacyFileName))
		if err != nil {
			return err
		}
		p, err := decodeAny(k, b)
		if err == nil && p.Version != 1 {
			err = fmt.Errorf("state version %d (this sealfs reads 1; written by a newer sealfs?)", p.Version)
		}
		return err
	}
	want := func(t *testing.T, dir string, seq uint64) {
		t.Helper()
		s := mustOpen(t, dir, k)
		if c, ok := s.HighWater(); !ok || c.Seq != seq {
			t.Errorf("mark #%d, %v; want #%d", c.Seq, ok, seq)
		}
		if s.LastMount() != "old-mount" {
			t.Errorf("LastMount = %q, want old-mount", s.LastMount())
		}
		if _, ok := s.Seen("old-lease"); !ok {
			t.Error("the lease sighting was lost")
		}
	}
	t.Run("open and save", func(t *testing.T) {
		dir := t.TempDir()
		legacyWrite(t, dir, k, 15)
		want(t, dir, 15)
		if err := olderReader(dir); err != nil {
			t.Fatalf("the frozen writer's file: %v", err)
		}
		if err := mustOpen(t, dir, k).Observe(head(16, "laptop", "2026-11-25 10:00")); err != nil {
			t.Fatal(err)
		}
		want(t, dir, 16)
		if _, _, p, errs := rawSlots(t, dir, k); errs[0] != nil || errs[1] != nil || p[0].High.Seq != 16 || p[1].High.Seq != 16 {
			t.Errorf("the new layout holds %+v, %+v (%v, %v)", p[0], p[1], errs[0], errs[1])
		}
		if err := olderReader(dir); err == nil || !strings.Contains(err.Error(), "written by a newer sealfs") {
			t.Errorf("the older sealfs reads the stub: %v", err)
		}
	})
	t.Run("crash before the rename", func(t *testing.T) {
		dir := t.TempDir()
		legacyWrite(t, dir, k, 15)
		if err := os.WriteFile(filepath.Join(dir, FileName+diskio.TempSuffix), []byte("SFLS half"), 0o600); err != nil {
			t.Fatal(err)
		}
		want(t, dir, 15)
		if err := mustOpen(t, dir, k).Observe(head(16, "laptop", "2026-11-25 10:00")); err != nil {
			t.Fatal(err)
		}
		want(t, dir, 16)
	})
	t.Run("crash before the stub", func(t *testing.T) {
		dir := t.TempDir()
		legacyWrite(t, dir, k, 15)
		old, _ := os.ReadFile(filepath.Join(dir, legacyFileName))
		if err := mustOpen(t, dir, k).Observe(head(16, "laptop", "2026-11-25 10:00")); err != nil {
			t.Fatal(err)
		}
		// The stub never reached the disk: the older file is back.
		if err := os.WriteFile(filepath.Join(dir, legacyFileName), old, 0o600); err != nil {
			t.Fatal(err)
		}
		want(t, dir, 16)
		if err := mustOpen(t, dir, k).Observe(head(17, "laptop", "2026-11-25 11:00")); err != nil {
			t.Fatal(err)
		}
		want(t, dir, 17)
		if err := olderReader(dir); err == nil {
			t.Error("the next save left the older file holding #15 for an older sealfs")
		}
	})
	// A process that read the older file saves after another carried it
	// over: it merges FileName, as two processes always did.
	t.Run("two processes", func(t *testing.T) {
		dir := t.TempDir()
		legacyWrite(t, dir, k, 15)
		rw, ro := mustOpen(t, dir, k), mustOpen(t, dir, k)
		if err := rw.Observe(head(20, "laptop", "2026-11-26 10:00")); err != nil {
			t.Fatal(err)
		}
		if err := ro.Observe(head(18, "laptop", "2026-11-26 09:00")); err != nil {
			t.Fatal(err)
		}
		want(t, dir, 20)
	})
	// The stub alone (FileName removed to trust the store again) is no state.
	t.Run("stub only", func(t *testing.T) {
		dir := t.TempDir()
		if err := mustOpen(t, dir, k).Observe(head(16, "laptop", "2026-11-25 10:00")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, FileName)); err != nil {
			t.Fatal(err)
		}
		if _, ok := mustOpen(t, dir, k).HighWater(); ok {
			t.Error("a mark without the state file")
		}
	})
}

// A state that does not fit a slot is written whole with larger slots.
func TestSlotsGrow(t *testing.T) {
	dir, k := t.TempDir(), newKey(t)
	s := mustOpen(t, dir, k)
	if err := s.Observe(head(1, "laptop", "2026-11-25 09:00")); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("v", 5000)
	if err := s.Record(long, time.Unix(5, 0)); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(2); seq <= 4; seq++ {
		if err := s.Observe(head(seq, "laptop", "2026-11-25 09:00")); err != nil {
			t.Fatal(err)
		}
	}
	file, _, p, errs := rawSlots(t, dir, k)
	if len(file) != 4*slotUnit || errs[0] != nil || errs[1] != nil || p[0].Save != 5 || p[1].Save != 5 {
		t.Errorf("%d bytes, %+v %v, %+v %v", len(file), p[0], errs[0], p[1], errs[1])
	}
	s = mustOpen(t, dir, k)
	if _, ok := s.Seen(long); !ok {
		t.Error("the long sighting was lost")
	}
	if c, _ := s.HighWater(); c.Seq != 4 {
		t.Errorf("mark #%d", c.Seq)
	}
}

// Once the copy is written back, both slots hold the newest state: damage
// to either one (by the disk, or by someone who can write it) loses
// nothing and lowers nothing.
func TestCopyCoversDamagedSlot(t *testing.T) {
	k := newKey(t)
	for i := range 2 {
		t.Run(fmt.Sprintf("slot %d", i), func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, k)
			for seq := uint64(1); seq <= 5; seq++ {
				if err := s.Observe(head(seq, "laptop", "2026-11-25 09:00")); err != nil {
					t.Fatal(err)
				}
			}
			file, size, _, _ := rawSlots(t, dir, k)
			file[i*size+slotHeaderSize+40] ^= 1
			if err := os.WriteFile(filepath.Join(dir, FileName), file, 0o600); err != nil {
				t.Fatal(err)
			}
			if c, _ := mustOpen(t, dir, k).HighWater(); c.Seq != 5 {
				t.Errorf("slot %d damaged: mark #%d, want #5", i, c.Seq)
			}
		})
	}
}

// Open in one process while another saves: never a state older than the
// one before that save, nor an error, whether the save writes a slot in
// place or switches from the older layout.
func TestOpenWhileSaving(t *testing.T) {
	k := newKey(t)
	for round := range 50 {
		dir := t.TempDir()
		legacyWrite(t, dir, k, 15)
		done := make(chan error, 1)
		go func() {
			s, err := Open(dir, k)
			for seq := uint64(16); err == nil && seq < 20; seq++ {
				err = s.Observe(head(seq, "laptop", "2026-11-25 09:00"))
			}
			done <- err
		}()
		for last := uint64(15); ; {
			s, err := Open(dir, k)
			if err != nil {
				t.Fatalf("round %d: Open while saving: %v", round, err)
			}
			c, ok := s.HighWater()
			if !ok || c.Seq < last {
				t.Fatalf("round %d: Open while saving read #%d (%v) after #%d", round, c.Seq, ok, last)
			}
			last = c.Seq
			if last == 19 {
				break
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// testdata/state-layout1 was written by sealfs at 78dd68a (the last commit
// with the one-record layout): key bytes 0..31, SetMount("old-mount"),
// Record("old-lease", 7 ns), Observe(#15 by laptop at 2026-11-25 09:00).
func TestFrozenOlderLayout(t *testing.T) {
	var k crypt.Key
	for i := range k {
		k[i] = byte(i)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "state-layout1"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, legacyFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	h15 := head(15, "laptop", "2026-11-25 09:00")
	check := func(seq uint64) {
		t.Helper()
		s := mustOpen(t, dir, k)
		c, ok := s.HighWater()
		if !ok || c.Seq != seq || (seq == 15 && (c.Device != h15.Device || c.MountID != h15.MountID || !c.Time.Equal(h15.Time))) {
			t.Errorf("mark %+v, %v; want #%d", c, ok, seq)
		}
		if first, ok := s.Seen("old-lease"); !ok || first.UnixNano() != 7 || s.LastMount() != "old-mount" {
			t.Errorf("Seen = %v, %v; LastMount = %q", first, ok, s.LastMount())
		}
	}
	check(15)
	if err := mustOpen(t, dir, k).Observe(head(16, "laptop", "2026-11-25 10:00")); err != nil {
		t.Fatal(err)
	}
	check(16)
	stub, err := os.ReadFile(filepath.Join(dir, legacyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, isStub, err := decodeLegacy(k, stub); err != nil || !isStub {
		t.Errorf("after the first save %s is not the stub: %v", legacyFileName, err)
	}
}
