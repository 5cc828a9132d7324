package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/sealfs/sealfs/crypt"
)

// Would content-defined chunk boundaries pay for themselves (issue 21)?
// The cdc workload runs no mount: it writes the week workload's five days
// (week.go's generators, --week-db, --week-files) and an SQLite database
// edited between two versions to a local folder, and cuts every file with
// each chunker below, counting what a store of distinct chunks would hold:
//
//   - stored bytes: each distinct chunk once, as sealfs would seal it
//     (Padmé-padded, 16-byte tag per 64 KiB segment): what the bucket
//     holds with all five snapshots kept, and with the last one only;
//   - chunks: distinct objects (requests, index entries);
//   - extents: chunk references of the live tree, each about
//     cdcExtentBytes in a checkpoint and in memory.
//
// A fixed chunker at 1 MiB and 64 KiB is the control: it tells what
// comes from smaller chunks and what from content-defined boundaries.
// The FastCDC chunker is the gear-hash one of Xia et al. (USENIX ATC 16)
// with normalized chunking (level 2), files cut independently.

// chunker cuts a file into chunks: fixed at max bytes, or content
// defined between min and max bytes, avg on average.
type chunker struct {
	name          string
	fixed         bool
	min, avg, max int
}

var cdcChunkers = []chunker{
	{name: "fixed 4 MiB (sealfs)", fixed: true, max: 4 << 20},
	{name: "fixed 1 MiB", fixed: true, max: 1 << 20},
	{name: "fixed 64 KiB", fixed: true, max: 64 << 10},
	{name: "FastCDC 512K/1M/4M", min: 512 << 10, avg: 1 << 20, max: 4 << 20},
	{name: "FastCDC 16K/64K/256K", min: 16 << 10, avg: 64 << 10, max: 256 << 10},
}

// cdcExtentBytes is what one extent costs in a checkpoint (index, 16-byte
// object id, size, offset and length as varints; a variable-length design
// adds the file offset), and cdcIndexBytes what one distinct object costs
// in the tree's reference index (fs/meta TestContentIndexMemory).
const (
	cdcExtentBytes = 32
	cdcIndexBytes  = 45
)

var gear = func() (g [256]uint64) {
	r := rand.New(rand.NewPCG(0x6765, 0x6172))
	for i := range g {
		g[i] = r.Uint64()
	}
	return g
}()

// cut returns the length of the first chunk of data.
func (c chunker) cut(data []byte) int {
	n := len(data)
	if c.fixed || n <= c.min {
		return min(n, c.max)
	}
	n = min(n, c.max)
	normal := min(n, c.avg)
	b := bits.Len(uint(c.avg)) - 1
	// The top bits of the fingerprint depend on the last 64 bytes.
	maskS, maskL := ^uint64(0)<<(64-(b+2)), ^uint64(0)<<(64-(b-2))
	var fp uint64
	i := c.min
	for ; i < normal; i++ {
		if fp = fp<<1 + gear[data[i]]; fp&maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		if fp = fp<<1 + gear[data[i]]; fp&maskL == 0 {
			return i + 1
		}
	}
	return n
}

// sealedSize is what sealfs stores for a chunk of n bytes.
func (c chunker) sealedSize(n int) int64 {
	return crypt.ObjectCipherSize(min(crypt.PaddedSize(int64(n)), int64(c.max)))
}

// chunkRef is one chunk of a file.
type chunkRef struct {
	sum [32]byte
	n   int
}

func (c chunker) split(data []byte) []chunkRef {
	var out []chunkRef
	for len(data) > 0 {
		k := c.cut(data)
		out = append(out, chunkRef{sha256.Sum256(data[:k]), k})
		data = data[k:]
	}
	if len(out) == 0 {
		out = append(out, chunkRef{sha256.Sum256(nil), 0})
	}
	return out
}

// chunkSet counts distinct chunks and their stored bytes.
type chunkSet struct {
	c              chunker
	seen           map[[32]byte]bool
	stored, plain  int64
	chunks, extent int
}

func newChunkSet(c chunker) *chunkSet { return &chunkSet{c: c, seen: map[[32]byte]bool{}} }

// add counts refs and returns the stored bytes of those not seen before.
func (s *chunkSet) add(refs []chunkRef) int64 {
	var fresh int64
	s.extent += len(refs)
	for _, r := range refs {
		if !s.seen[r.sum] {
			s.seen[r.sum] = true
			s.chunks++
			s.plain += int64(r.n)
			fresh += s.c.sealedSize(r.n)
		}
	}
	s.stored += fresh
	return fresh
}

// cdcWeek is the week workload cut by every chunker.
type cdcWeek struct {
	history []*chunkSet               // every snapshot's chunks, per chunker
	days    [][]int64                 // stored bytes new each day, per chunker
	live    []*chunkSet               // the last day's tree, per chunker
	files   []map[[32]byte][]chunkRef // a file's chunks by its SHA-256, per chunker
	wrote   int64
}

func cdcWorkload(ctx context.Context, e *env, r *report) error {
	dir, err := e.tempDir("cdc-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w, err := cdcWeekRun(e, filepath.Join(dir, "week"))
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "cdc: week (%d MiB written)\tstored, 5 snapshots\tvs fixed 4 MiB\tof it padding\tstored, last only\tper day (MiB)\tdistinct chunks\tlive extents\tcheckpoint\tindex memory\t\n", w.wrote>>20)
	base := w.history[0].stored
	for i, c := range cdcChunkers {
		h, l := w.history[i], w.live[i]
		var days []string
		for _, d := range w.days[i] {
			days = append(days, fmt.Sprintf("%.0f", mib(d)))
		}
		fmt.Fprintf(tw, "%s\t%.1f MiB\t%.3fx\t%.1f MiB\t%.1f MiB\t%s\t%d\t%d\t%.0f KiB\t%.0f KiB\t\n", c.name, mib(h.stored),
			float64(h.stored)/float64(base), mib(h.stored-h.plain), mib(l.stored), strings.Join(days, " "), h.chunks, l.extent,
			float64(l.extent*cdcExtentBytes)/1024, float64(l.chunks*cdcIndexBytes+l.extent*cdcExtentBytes)/1024)
	}
	cdcRow := 3 // FastCDC 1 MiB
	v := float64(w.history[cdcRow].stored) / float64(base)
	r.set(rowCDCWeek, row{Value: v, Unit: "x fixed 4 MiB", Text: fmt.Sprintf("%.3f x fixed 4 MiB", v),
		Detail: fmt.Sprintf("bucket with all 5 snapshots: %s %.1f MiB in %d chunks, fixed 4 MiB %.1f MiB in %d chunks (table below)",
			cdcChunkers[cdcRow].name, mib(w.history[cdcRow].stored), w.history[cdcRow].chunks, mib(base), w.history[0].chunks)})

	sq, err := cdcSQLite(ctx, e, filepath.Join(dir, "sqlite"))
	if err != nil {
		return err
	}
	if sq == nil {
		r.set(rowCDCSQLite, row{Text: "unavailable: no sqlite3 on PATH (apt-get install sqlite3)"})
	} else {
		fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t\t\t\n")
		fmt.Fprintf(tw, "cdc: SQLite %.1f MiB\tstored v1\tv2 uploads\tvs fixed 4 MiB\tVACUUMed v2 uploads\tvs fixed 4 MiB\tchunks v1\textents v1\tcheckpoint\t\n", mib(sq.size))
		for i, c := range cdcChunkers {
			fmt.Fprintf(tw, "%s\t%.1f MiB\t%.2f MiB\t%.3fx\t%.1f MiB\t%.3fx\t%d\t%d\t%.1f KiB\t\n", c.name, mib(sq.v1[i]),
				mib(sq.v2[i]), float64(sq.v2[i])/float64(sq.v2[0]), mib(sq.v3[i]), float64(sq.v3[i])/float64(sq.v3[0]),
				sq.chunks[i], sq.chunks[i], float64(sq.chunks[i]*cdcExtentBytes)/1024)
		}
		v := float64(sq.v2[cdcRow]) / float64(sq.v2[0])
		r.set(rowCDCSQLite, row{Value: v, Unit: "x fixed 4 MiB", Text: fmt.Sprintf("%.3f x fixed 4 MiB", v),
			Detail: fmt.Sprintf("uploads of the edited database (%s) after the first version: %s %.2f MiB, fixed 4 MiB %.2f MiB, fixed 64 KiB %.2f MiB",
				sq.edit, cdcChunkers[cdcRow].name, mib(sq.v2[cdcRow]), mib(sq.v2[0]), mib(sq.v2[2]))})
	}
	tw.Flush()
	r.note(strings.TrimRight(b.String(), "\n"))
	r.note(fmt.Sprintf("cdc: stored = each distinct chunk once, sealed as sealfs seals it (Padmé padding, 16 B per 64 KiB segment); "+
		"checkpoint = live extents x %d B; index memory = distinct live chunks x %d B + extents x %d B; files are cut independently",
		cdcExtentBytes, cdcIndexBytes, cdcExtentBytes))
	return nil
}

// cdcWeekRun writes the five days into dir and cuts them.
func cdcWeekRun(e *env, dir string) (*cdcWeek, error) {
	t := &weekTree{live: map[string]weekFile{}, seen: map[[32]byte]int64{}}
	dbSize := int64(e.cfg.WeekDBMiB) << 20
	a := &weekApps{dbSize: dbSize, sigSize: 2 * dbSize, files: e.cfg.WeekFiles,
		rng: rand.New(rand.NewPCG(21, 5)), db: make([]byte, dbSize)}
	w := &cdcWeek{}
	for _, c := range cdcChunkers {
		w.history = append(w.history, newChunkSet(c))
		w.days = append(w.days, nil)
		w.files = append(w.files, map[[32]byte][]chunkRef{})
	}
	for day := range weekDays {
		t.startDay(dir)
		if err := a.whatsapp(t, day); err != nil {
			return nil, err
		}
		if err := a.signal(t, day); err != nil {
			return nil, err
		}
		if err := a.telegram(t, day); err != nil {
			return nil, err
		}
		w.wrote += t.wrote
		w.live = w.live[:0]
		for i, c := range cdcChunkers {
			w.live = append(w.live, newChunkSet(c))
			before := w.history[i].stored
			for rel, f := range t.live {
				refs, ok := w.files[i][f.sum]
				if !ok {
					data, err := os.ReadFile(filepath.Join(dir, rel))
					if err != nil {
						return nil, err
					}
					refs = c.split(data)
					w.files[i][f.sum] = refs
				}
				w.history[i].add(refs)
				w.live[i].add(refs)
			}
			w.days[i] = append(w.days[i], w.history[i].stored-before)
		}
	}
	return w, nil
}

// cdcSQLiteResult is what each chunker stores of the database's versions.
type cdcSQLiteResult struct {
	size       int64
	edit       string
	v1, v2, v3 []int64 // stored v1; new for v2 after v1; new for VACUUMed v2 after v1
	chunks     []int
}

// cdcSQLite makes a chat database (v1), edits a copy (v2: rows inserted
// through an index, updated and deleted across the file) and VACUUMs a
// copy of that (v3: the pages after the deleted rows move).
func cdcSQLite(ctx context.Context, e *env, dir string) (*cdcSQLiteResult, error) {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rows := 10 * e.cfg.SQLRows
	v1, v2, v3 := filepath.Join(dir, "v1.db"), filepath.Join(dir, "v2.db"), filepath.Join(dir, "v3.db")
	create := filepath.Join(dir, "create.sql")
	// The index interleaves its pages with the table's, as a chat app's do.
	table := "CREATE TABLE msg(id INTEGER PRIMARY KEY, chat INTEGER, ts INTEGER, sender TEXT, body TEXT);\n"
	script := strings.Replace(string(sqlScript(rows, 1000)), table, table+"CREATE INDEX msg_chat ON msg(chat, ts);\n", 1)
	if err := os.WriteFile(create, []byte(script), 0o600); err != nil {
		return nil, err
	}
	if err := sqlite3(ctx, bin, v1, create); err != nil {
		return nil, err
	}
	// A day of a chat app: new messages (appended to the table, into
	// each chat's part of the index), status updates in place and one
	// conversation's messages deleted.
	ins, upd, del := rows/100, rows/1000, rows/1000
	edit := filepath.Join(dir, "edit.sql")
	var b strings.Builder
	b.WriteString("BEGIN;\n")
	rng := splitmix(7)
	for i := range ins {
		fmt.Fprintf(&b, "INSERT INTO msg(chat, ts, sender, body) VALUES(%d, %d, '+4917%08d', '%s');\n",
			rng.intn(50), 1700000000+(rows+i)*7, rng.intn(1e8), randomHex(40+i%40))
	}
	for range upd {
		fmt.Fprintf(&b, "UPDATE msg SET sender = '+4918%08d' WHERE id = %d;\n", rng.intn(1e8), 1+rng.intn(int64(rows)))
	}
	fmt.Fprintf(&b, "DELETE FROM msg WHERE id > %d AND id <= %d;\nCOMMIT;\n", rows/2, rows/2+del)
	if err := os.WriteFile(edit, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	if err := copyFile(v1, v2); err != nil {
		return nil, err
	}
	if err := sqlite3(ctx, bin, v2, edit); err != nil {
		return nil, err
	}
	if err := copyFile(v2, v3); err != nil {
		return nil, err
	}
	vacuum := filepath.Join(dir, "vacuum.sql")
	if err := os.WriteFile(vacuum, []byte("VACUUM;\n"), 0o600); err != nil {
		return nil, err
	}
	if err := sqlite3(ctx, bin, v3, vacuum); err != nil {
		return nil, err
	}
	data := make([][]byte, 3)
	for i, p := range []string{v1, v2, v3} {
		if data[i], err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	res := &cdcSQLiteResult{size: int64(len(data[0])),
		edit: fmt.Sprintf("%d rows: %d new messages, %d updated in place at random, %d in a row deleted in the middle", rows, ins, upd, del)}
	for _, c := range cdcChunkers {
		first := c.split(data[0])
		s := newChunkSet(c)
		res.v1 = append(res.v1, s.add(first))
		res.chunks = append(res.chunks, len(first))
		res.v2 = append(res.v2, s.add(c.split(data[1])))
		s = newChunkSet(c)
		s.add(first)
		res.v3 = append(res.v3, s.add(c.split(data[2])))
	}
	return res, nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
