package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// sqliteWorkload runs the sqlite3 command-line shell on the mount: a chat
// database receiving rows in transactions, each COMMIT fsyncing the journal
// and the database (journal_mode=DELETE, synchronous=FULL: SQLite's
// defaults). After remounting on another device it runs PRAGMA
// integrity_check. Without sqlite3 the rows say so; nothing is faked.
func sqliteWorkload(ctx context.Context, e *env, r *report) error {
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		msg := "unavailable: no sqlite3 on PATH (apt-get install sqlite3)"
		for _, name := range []string{rowSQLite, rowSQLiteCommits, rowSQLiteCheck} {
			r.set(name, row{Text: msg})
		}
		return nil
	}
	dev, err := e.newDevice(ctx)
	if err != nil {
		return err
	}
	script := filepath.Join(e.work, "inserts.sql")
	txns := (e.cfg.SQLRows + e.cfg.SQLTxn - 1) / e.cfg.SQLTxn
	if err := os.WriteFile(script, sqlScript(e.cfg.SQLRows, e.cfg.SQLTxn), 0o600); err != nil {
		return err
	}
	var dbSize int64
	w, err := e.sealfsPhase(ctx, r, "sqlite inserts", dev, false, func(dir string) error {
		db := filepath.Join(dir, "msgstore.db")
		if err := sqlite3(ctx, sqlite, db, script); err != nil {
			return err
		}
		st, err := os.Stat(db)
		if err == nil {
			dbSize = st.Size()
		}
		return err
	})
	if err != nil {
		return err
	}
	ref, err := rawFilePut(ctx, e, dbSize)
	if err != nil {
		return err
	}
	speedup := (time.Duration(txns) * ref).Seconds() / w.Dur.Seconds()
	r.set(rowSQLite, row{Value: float64(e.cfg.SQLRows) / w.Dur.Seconds(), Unit: "rows/s", Ratio: speedup,
		Target: "> 1x one full-file PUT per txn", Met: atLeast(speedup, 1.0001),
		Detail: fmt.Sprintf("%d rows in %d txns, %.2fs; db %.1f MiB (raw PUT %.0f ms); ratio = %d x that PUT / time; %.1f MiB uploaded",
			e.cfg.SQLRows, txns, w.Dur.Seconds(), mib(dbSize), ref.Seconds()*1000, txns, mib(w.T.Up))})
	per := float64(w.T.HeadPuts) / float64(txns)
	r.set(rowSQLiteCommits, row{Value: float64(w.T.HeadPuts), Unit: "commits", Ratio: per, Target: ">= 1 per txn", Met: atLeast(per, 1),
		Detail: "head PUTs (metadata commits) during the inserts: each fsync must commit"})
	return sqliteCheck(ctx, e, r, dev, sqlite)
}

func sqliteCheck(ctx context.Context, e *env, r *report, dev *device, sqlite string) error {
	checker, err := dev.sibling()
	if err != nil {
		return err
	}
	var out string
	_, err = e.sealfsPhase(ctx, r, "sqlite check", checker, false, func(dir string) error {
		var b bytes.Buffer
		cmd := exec.CommandContext(ctx, sqlite, filepath.Join(dir, "msgstore.db"),
			"PRAGMA integrity_check; SELECT count(*) FROM msg;")
		cmd.Stdout, cmd.Stderr = &b, &b
		err := cmd.Run()
		out = strings.Join(strings.Fields(b.String()), " ")
		return err
	})
	want := fmt.Sprintf("ok %d", e.cfg.SQLRows)
	ok := err == nil && out == want
	text := "ok"
	if !ok {
		text = fmt.Sprintf("FAILED: %q (err %v)", out, err)
	}
	r.set(rowSQLiteCheck, row{Text: text, Target: "ok, all rows", Met: &ok,
		Detail: "PRAGMA integrity_check and count(*) on a fresh device"})
	return nil
}

func sqlite3(ctx context.Context, bin, db, script string) error {
	in, err := os.Open(script)
	if err != nil {
		return err
	}
	defer in.Close()
	cmd := exec.CommandContext(ctx, bin, "-bail", db)
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("sqlite3: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// sqlScript is rows inserts in transactions of txn rows.
func sqlScript(rows, txn int) []byte {
	var b bytes.Buffer
	b.WriteString("PRAGMA journal_mode=DELETE;\nPRAGMA synchronous=FULL;\n")
	b.WriteString("CREATE TABLE msg(id INTEGER PRIMARY KEY, chat INTEGER, ts INTEGER, sender TEXT, body TEXT);\n")
	rng := splitmix(rows)
	for i := range rows {
		if i%txn == 0 {
			b.WriteString("BEGIN;\n")
		}
		fmt.Fprintf(&b, "INSERT INTO msg(chat, ts, sender, body) VALUES(%d, %d, '+4917%08d', '%s');\n",
			rng.intn(50), 1700000000+i*7, rng.intn(1e8), randomHex(40+int(rng.intn(40))))
		if i%txn == txn-1 || i == rows-1 {
			b.WriteString("COMMIT;\n")
		}
	}
	return b.Bytes()
}

// rawFilePut is the median time of three raw PUTs of size bytes: what
// uploading the whole database once costs.
func rawFilePut(ctx context.Context, e *env, size int64) (time.Duration, error) {
	bucket, err := e.newBucket(ctx)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, max(size, 1))
	newPattern().fill(buf, 0)
	var ds []time.Duration
	for i := range 3 {
		start := time.Now()
		if err := rawPut(ctx, e, bucket, fmt.Sprintf("db/%d", i), buf); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[1], nil
}
