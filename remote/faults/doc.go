// Package faults wraps a remote.Store and makes chosen calls misbehave, for
// tests of the layers above (retries, commits, the mount's error paths).
//
// A Store passes every call through unless a Rule matches it:
//
//	f := faults.New(remote.NewMemory())
//	f.Inject(faults.Get, faults.Fail(faults.ErrUnavailable).Times(2)) // two 503s, then fine
//	f.Inject(faults.Put, faults.LoseResponse(faults.ErrReset).Nth(1)) // first put lands, reply lost
//	f.Inject(faults.Any, faults.Delay(50*time.Millisecond))          // slow everything
//	f.Inject(faults.Get, faults.Truncate(100).If(faults.KeyPrefix("data/")))
//	f.Inject(faults.List, faults.FailAfterKeys(1000, faults.ErrReset).Times(1))
//	f.Inject(faults.Stat, faults.Hang())                             // blocks until ctx ends
//	f.Clear()                                                        // back to normal
//
// Rules are checked in the order they were injected. Every matching Delay
// rule sleeps; the first matching rule that fails, hangs or truncates
// decides the outcome. The injected errors ErrServer, ErrUnavailable and
// ErrReset are transient in the sense of remote.IsTransient, like their real
// counterparts; use Fail(err) with any other error for a permanent fault.
//
// Only tests import this package.
package faults
