package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress draws a byte progress bar for flushes and long commands, but only
// on a terminal and only once the work lasts more than a moment.
type progress struct {
	w     io.Writer
	desc  string
	start time.Time
	bar   *progressbar.ProgressBar
	tty   bool
}

// showAfter is how long work runs before a bar appears.
const showAfter = 700 * time.Millisecond

func newProgress(w io.Writer, desc string) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, desc: desc, start: time.Now(), tty: tty}
}

func (p *progress) update(done, total int64) {
	if !p.tty || total <= 0 {
		return
	}
	if p.bar == nil {
		if time.Since(p.start) < showAfter {
			return
		}
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	if p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
	_ = p.bar.Set64(min(done, total))
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
