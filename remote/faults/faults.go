package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sealfs/sealfs/remote"
)

// Op names a Store method.
type Op string

// The operations rules can target; Any matches all of them.
const (
	Put        Op = "put"
	Get        Op = "get"
	GetRange   Op = "get_range" // GetRange and OpenRange
	Stat       Op = "stat"
	List       Op = "list"
	Delete     Op = "delete"
	DeleteMany Op = "delete_many"
	Any        Op = "*"
)

// Injected errors, shaped like what S3 clients see.
var (
	ErrServer      = fmt.Errorf("faults: injected 500 Internal Server Error: %w", remote.ErrTransient)
	ErrUnavailable = fmt.Errorf("faults: injected 503 Slow Down: %w", remote.ErrTransient)
	ErrReset       = fmt.Errorf("faults: injected connection reset: %w", syscall.ECONNRESET)
)

// Call describes one store call as rules see it.
type Call struct {
	Op   Op
	Key  string // the key, or the prefix for List; "" for DeleteMany
	N    int    // 1 for the first call of this Op on this Store, 2 for the second ...
	Size int    // bytes sent, for Put
	Opts remote.PutOptions
}

// KeyPrefix is a predicate for Rule.If.
func KeyPrefix(p string) func(Call) bool {
	return func(c Call) bool { return strings.HasPrefix(c.Key, p) }
}

type kind int

const (
	kindFail kind = iota
	kindLose
	kindDelay
	kindHang
	kindTruncate
	kindListAfter
	kindGate
)

// Rule is one fault. Build it with Fail, LoseResponse, Delay, Wait, Hang,
// Truncate or FailAfterKeys and narrow it with If, Nth and Times.
type Rule struct {
	kind  kind
	err   error
	delay time.Duration
	n     int   // Truncate: bytes kept; FailAfterKeys: keys delivered
	gate  *Gate // Wait
	pred  func(Call) bool
	nth   int
	times int

	matched, fired int // guarded by Store.mu
}

// Fail returns err instead of calling the store.
func Fail(err error) *Rule { return &Rule{kind: kindFail, err: err} }

// LoseResponse calls the store, then returns err as if the reply was lost
// on the way back: the write happened, the caller cannot know.
func LoseResponse(err error) *Rule { return &Rule{kind: kindLose, err: err} }

// Delay sleeps d (or until ctx ends) before the call goes on.
func Delay(d time.Duration) *Rule { return &Rule{kind: kindDelay, delay: d} }

// Wait holds each call at g until the test opens it (or the call's
// context ends); like Delay it combines with a deciding rule. Tests use it
// to hold an upload in flight for exactly as long as they need, instead of
// a delay that a slow machine may outlast.
func Wait(g *Gate) *Rule { return &Rule{kind: kindGate, gate: g} }

// Gate holds the calls of Wait rules until Open. Arrived tells the test a
// call is being held, so it can act "during" that call without guessing.
type Gate struct {
	open     chan struct{}
	arrived  chan struct{}
	openOnce sync.Once
	arrOnce  sync.Once
	held     atomic.Int64
}

// NewGate returns a closed gate.
func NewGate() *Gate { return &Gate{open: make(chan struct{}), arrived: make(chan struct{})} }

// Open lets every held and later call through. Opening twice is fine.
func (g *Gate) Open() { g.openOnce.Do(func() { close(g.open) }) }

// Arrived is closed once the first call is held at the gate.
func (g *Gate) Arrived() <-chan struct{} { return g.arrived }

// Held is the number of calls waiting at the gate now.
func (g *Gate) Held() int64 { return g.held.Load() }

func (g *Gate) wait(ctx context.Context) error {
	g.held.Add(1)
	defer g.held.Add(-1)
	g.arrOnce.Do(func() { close(g.arrived) })
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hang blocks until the call's context ends and returns its error.
func Hang() *Rule { return &Rule{kind: kindHang} }

// Truncate makes Get, GetRange and OpenRange return at most n bytes, without an
// error: a body cut short that nothing below noticed.
func Truncate(n int) *Rule { return &Rule{kind: kindTruncate, n: n} }

// FailAfterKeys makes List deliver n keys and then fail with err.
func FailAfterKeys(n int, err error) *Rule { return &Rule{kind: kindListAfter, n: n, err: err} }

// If restricts the rule to calls for which pred is true.
func (r *Rule) If(pred func(Call) bool) *Rule { r.pred = pred; return r }

// Nth restricts the rule to the n-th call (1-based) of its op that passes
// its If predicate, counting calls that other rules decided.
func (r *Rule) Nth(n int) *Rule { r.nth = n; return r }

// Times lets the rule fire at most n times.
func (r *Rule) Times(n int) *Rule { r.times = n; return r }

// fires reports whether r applies to c and counts it; called under
// Store.mu. A call counts as matched even when an earlier rule decided it
// (may is false), so Nth always means the n-th call of r's op and predicate.
func (r *Rule) fires(c Call, may bool) bool {
	if r.pred != nil && !r.pred(c) {
		return false
	}
	r.matched++
	if !may || (r.nth > 0 && r.matched != r.nth) || (r.times > 0 && r.fired >= r.times) {
		return false
	}
	r.fired++
	return true
}

type injected struct {
	op   Op
	rule *Rule
}

// Store is a remote.Store with injected faults. It is safe for concurrent
// use, also while rules are injected.
type Store struct {
	remote.Store
	mu    sync.Mutex
	rules []injected
	calls map[Op]int
}

// New wraps s; without rules it behaves exactly like s.
func New(s remote.Store) *Store { return &Store{Store: s, calls: map[Op]int{}} }

// Inject adds rule for calls of op (or of every op, with Any).
func (f *Store) Inject(op Op, rule *Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, injected{op, rule})
}

// Clear removes all rules.
func (f *Store) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Calls returns how many calls of op reached this wrapper (Any: all).
func (f *Store) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op != Any {
		return f.calls[op]
	}
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// plan is what the rules decided for one call.
type plan struct {
	delay time.Duration
	gates []*Gate
	out   *Rule // the deciding rule, or nil
}

func (f *Store) plan(c Call) plan {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[c.Op]++
	c.N = f.calls[c.Op]
	var p plan
	for _, in := range f.rules {
		if in.op != Any && in.op != c.Op {
			continue
		}
		combines := in.rule.kind == kindDelay || in.rule.kind == kindGate
		if !in.rule.fires(c, p.out == nil || combines) {
			continue
		}
		switch in.rule.kind {
		case kindDelay:
			p.delay += in.rule.delay
		case kindGate:
			p.gates = append(p.gates, in.rule.gate)
		default:
			p.out = in.rule
		}
	}
	return p
}

// before sleeps and applies failing rules that act before the call; it
// returns a non-nil error to return instead of calling the store.
func (p plan) before(ctx context.Context) error {
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	for _, g := range p.gates {
		if err := g.wait(ctx); err != nil {
			return err
		}
	}
	if p.out == nil {
		return nil
	}
	switch p.out.kind {
	case kindFail:
		return p.out.err
	case kindHang:
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// after turns a real outcome into the injected one.
func (p plan) after(err error) error {
	if err == nil && p.out != nil && p.out.kind == kindLose {
		return p.out.err
	}
	return err
}

func (p plan) truncate(b []byte) []byte {
	if p.out != nil && p.out.kind == kindTruncate && len(b) > p.out.n {
		return b[:p.out.n]
	}
	return b
}

// Unwrap returns the wrapped store (see remote.As).
func (f *Store) Unwrap() remote.Store { return f.Store }
