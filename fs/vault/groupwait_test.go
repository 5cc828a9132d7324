package vault

import (
	"context"
	"testing"
	"time"
)

// TestPublishingWait: a commit waits only while another fsync publishes,
// until the last of them is done, and never longer than its limit (by
// default the last commit's duration); with nobody publishing, or no
// commit timed yet, it does not wait at all.
func TestPublishingWait(t *testing.T) {
	ctx := context.Background()
	var p publishing
	p.wait(ctx, 0)
	p.start()
	p.wait(ctx, 0) // no commit timed yet: no limit, no wait
	if n := p.waits.Load(); n != 0 {
		t.Fatalf("%d waits with nobody publishing or no commit timed; want 0", n)
	}
	p.took(time.Millisecond)
	p.wait(ctx, 0) // the publisher never ends: the last commit's duration bounds it
	if n := p.waits.Load(); n != 1 {
		t.Fatalf("%d waits; want 1", n)
	}
	p.start()
	waited := make(chan struct{})
	go func() { p.wait(ctx, time.Hour); close(waited) }()
	p.done()
	select {
	case <-waited:
		t.Fatal("the wait ended while an fsync still publishes")
	default:
	}
	p.done()
	<-waited // the last publisher is done: the wait ends (an hour otherwise)
}
