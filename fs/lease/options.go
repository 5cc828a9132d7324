package lease

import (
	"io"
	"log/slog"
	"sync"
	"time"
)

const (
	// DefaultTTL is the lease lifetime when Options.TTL is zero.
	DefaultTTL = 60 * time.Second
	// minTTL is the shortest TTL Acquire uses (tests use short ones).
	minTTL = 100 * time.Millisecond
	// maxTTL bounds the TTL a record may claim, so a lease cannot be
	// made to look live for years.
	maxTTL = 24 * time.Hour
	// maxConflicts bounds how often Acquire re-reads after losing a
	// conditional write to another device before it gives up.
	maxConflicts = 8
)

// Options configure Acquire. The zero value works except for Device and
// MountID, which must be set.
type Options struct {
	// Device names this device in messages on other devices ("laptop").
	Device string
	// MountID identifies this mount instance; it must be unique per mount
	// (random). A lease already held by this MountID is kept as is.
	MountID string
	// TTL is how long this device's lease stays live without a renewal
	// (default DefaultTTL, at least 100ms, at most 24h). Renewals happen
	// every TTL/3. Contenders wait the TTL written in the lease, not their
	// own.
	TTL time.Duration
	// Reclaim is the mount id of an earlier read-write mount of this vault
	// on this device that is known to be no longer running: the caller
	// holds localstate.Lock, which that mount held while it ran, and took
	// the id from localstate's LastMount. A lease still held by that mount
	// is taken over at once, so a restart after a crash need not wait for
	// the TTL.
	Reclaim string
	// Force takes the lease even if another device holds it, and replaces
	// a lease object that cannot be authenticated.
	Force bool
	// Wait makes Acquire poll until a held lease goes stale (or ctx ends)
	// instead of returning a *HeldError.
	Wait bool
	// Observer remembers when this device first saw each lease version
	// (see Observer). nil: a new MemoryObserver, so staleness can only be
	// established within one call (with Wait).
	Observer Observer
	// Rand is the randomness for sealing (nil: crypto/rand).
	Rand io.Reader
	// Logger receives takeovers, losses and renewal failures (nil: discard).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now). Only this device's own clock is
	// ever compared with itself; tests replace it.
	Now func() time.Time
	// Sleep waits for d or until done is closed (nil: a real timer). Tests
	// that use a fake Now replace it to advance the fake clock.
	Sleep func(d time.Duration, done <-chan struct{})
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	// The record holds whole milliseconds.
	c.TTL = min(max(c.TTL, minTTL), maxTTL).Truncate(time.Millisecond)
	if c.Observer == nil {
		c.Observer = NewMemoryObserver()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

func sleep(d time.Duration, done <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// Observer remembers, on the contending device, when it first saw a given
// version of a lease held by someone else. Staleness is established by
// observation alone: a version this device has seen unchanged for the
// holder's whole TTL, by this device's own clock, belongs to a holder that
// stopped renewing. No clocks are compared between devices.
//
// fs/localstate.State implements it persistently, so that a refused mount
// followed by a retry after the TTL takes over.
type Observer interface {
	// Seen returns when this device first saw version, if it did.
	Seen(version string) (firstSeen time.Time, ok bool)
	// Record notes that version was first seen at t, forgetting any
	// other version.
	Record(version string, t time.Time) error
}

// MemoryObserver is an Observer that forgets when the process ends.
type MemoryObserver struct {
	mu      sync.Mutex
	version string
	first   time.Time
}

// NewMemoryObserver returns an empty MemoryObserver.
func NewMemoryObserver() *MemoryObserver { return &MemoryObserver{} }

// Seen implements Observer.
func (m *MemoryObserver) Seen(version string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version == "" || m.version != version {
		return time.Time{}, false
	}
	return m.first, true
}

// Record implements Observer.
func (m *MemoryObserver) Record(version string, t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version, m.first = version, t
	return nil
}
