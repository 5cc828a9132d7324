package vault

// maxSpans bounds the written ranges a chunk version tracks: a writer
// scattering more, smaller writes over one chunk than this is not filling
// it block by block, and its chunk is sent when the file is closed or
// fsynced, or memory runs short, like any partial chunk.
const maxSpans = 64

// span is a written byte range [off, end) of a chunk.
type span struct{ off, end int64 }

// cover is the byte ranges of a chunk written since its version began
// (sorted, disjoint, not adjacent). It says when the chunk is complete:
// a writer that fills a file out of order (Syncthing, downloaders,
// rsync --inplace) completes each chunk once, and only then is it sealed
// and sent; until then it stays in memory, or sealed in the staging area
// when memory runs short, never uploaded as an object a later write
// replaces (issue 20).
type cover struct {
	spans []span
	lost  bool // more than maxSpans ranges: never complete
}

// add records that [off, end) was written.
func (c *cover) add(off, end int64) {
	if c.lost || off >= end {
		return
	}
	// The common cases first: appending to the last range, or a range
	// after all others.
	if n := len(c.spans); n > 0 && off >= c.spans[n-1].off {
		last := &c.spans[n-1]
		if off <= last.end {
			last.end = max(last.end, end)
			return
		}
	}
	out := c.spans[:0:0]
	i := 0
	for ; i < len(c.spans) && c.spans[i].end < off; i++ {
		out = append(out, c.spans[i])
	}
	merged := span{off, end}
	for ; i < len(c.spans) && c.spans[i].off <= end; i++ {
		merged.off = min(merged.off, c.spans[i].off)
		merged.end = max(merged.end, c.spans[i].end)
	}
	out = append(out, merged)
	out = append(out, c.spans[i:]...)
	if len(out) > maxSpans {
		c.spans, c.lost = nil, true
		return
	}
	c.spans = out
}

// covers reports whether [0, n) was written.
func (c *cover) covers(n int64) bool {
	return !c.lost && len(c.spans) == 1 && c.spans[0].off == 0 && c.spans[0].end >= n
}

// filled returns how many bytes were written (0 once lost).
func (c *cover) filled() int64 {
	var n int64
	for _, s := range c.spans {
		n += s.end - s.off
	}
	return n
}

// clip forgets what was written at or after n (a truncation).
func (c *cover) clip(n int64) {
	keep := c.spans[:0]
	for _, s := range c.spans {
		if s.off < n {
			s.end = min(s.end, n)
			keep = append(keep, s)
		}
	}
	c.spans = keep
}

// clone returns a copy that shares nothing with c.
func (c cover) clone() cover {
	c.spans = append([]span(nil), c.spans...)
	return c
}
