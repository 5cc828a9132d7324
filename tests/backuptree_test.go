package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"
)

// entry is what a user would compare after restoring a backup.
type entry struct {
	Mode   fs.FileMode
	Size   int64
	Mtime  int64 // ns; directories are not compared (their mtime moves with every change)
	SHA256 string
	Target string // symlinks
}

// backup writes a chat-app-shaped tree into root the way an app does it, and
// remembers names and content markers for the plaintext scans.
type backup struct {
	t       *testing.T
	root    string
	rng     *rand.Rand
	markers [][]byte
}

func newBackup(t *testing.T, root string, seed uint64) *backup {
	return &backup{t: t, root: root, rng: rand.New(rand.NewPCG(seed, seed^0x5ea1f5))}
}

// marker returns a unique string to embed in a name or in contents.
func (b *backup) marker(kind string) string {
	m := fmt.Sprintf("sealfs%s%016x", kind, b.rng.Uint64())
	b.markers = append(b.markers, []byte(m))
	return m
}

// content is n bytes: a marker, then pseudo-random bytes.
func (b *backup) content(n int) []byte {
	buf := pseudoRandom(b.rng.Uint64(), n)
	copy(buf, b.marker("content"))
	return buf
}

func (b *backup) path(rel string) string { return filepath.Join(b.root, rel) }

func (b *backup) mkdir(rel string) {
	if err := os.MkdirAll(b.path(rel), 0o755); err != nil {
		b.t.Fatal(err)
	}
}

func (b *backup) writeFile(rel string, data []byte) {
	if err := os.WriteFile(b.path(rel), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// writeInPieces writes size bytes in 1 MiB pieces at the start of an
// existing or new file without truncating it (the nightly DB rewrite).
func (b *backup) writeInPieces(rel string, size int, sync bool) {
	f, err := os.OpenFile(b.path(rel), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		b.t.Fatal(err)
	}
	for off := 0; off < size; off += 1 << 20 {
		if _, err := f.WriteAt(b.content(min(1<<20, size-off)), int64(off)); err != nil {
			b.t.Fatal(err)
		}
	}
	if sync {
		if err := f.Sync(); err != nil {
			b.t.Fatalf("fsync %s: %v", rel, err)
		}
	}
	if err := f.Close(); err != nil {
		b.t.Fatalf("close %s: %v", rel, err)
	}
}

// writeChatBackup lays down the journey's tree: a 40 MiB database written in
// 1 MiB pieces then rewritten in place, mediaFiles media files of 5-500 KiB
// in nested folders, a temp file renamed over a backup, an old backup
// deleted, a symlink, a renamed directory, chmod and utimens.
func (b *backup) writeChatBackup(mediaFiles int) {
	for _, d := range []string{"Databases", "Backups", "Media/WhatsApp Images/Sent",
		"Media/WhatsApp Video", "Media/WhatsApp Voice Notes", "Media/.Statuses"} {
		b.mkdir(d)
	}
	b.writeInPieces("Databases/msgstore.db.crypt14", 40<<20, true)
	b.writeInPieces("Databases/msgstore.db.crypt14", 40<<20, false) // in place, same size
	b.writeFile("Databases/msgstore-2026-11-20.1.db.crypt14", b.content(300<<10))
	b.writeFile("Databases/msgstore-2026-11-21.1.db.crypt14", b.content(310<<10))
	if err := os.Remove(b.path("Databases/msgstore-2026-11-20.1.db.crypt14")); err != nil {
		b.t.Fatal(err) // rotation of an old backup
	}
	folders := []string{"Media/WhatsApp Images", "Media/WhatsApp Images/Sent", "Media/WhatsApp Video",
		"Media/.Statuses", "Media/WhatsApp Voice Notes"}
	for i := range mediaFiles {
		dir := folders[i%len(folders)]
		if dir == "Media/WhatsApp Voice Notes" {
			dir = filepath.Join(dir, fmt.Sprintf("2026%02d", 40+i%8))
			b.mkdir(dir)
		}
		name := fmt.Sprintf("IMG-20261126-WA%04d-%s.jpg", i, b.marker("name"))
		b.writeFile(filepath.Join(dir, name), b.content(5<<10+b.rng.IntN(495<<10)))
	}
	b.writeFile("Backups/chatsettings.db.crypt14", b.content(20<<10))
	b.writeFile("Backups/chatsettings.db.crypt14.tmp", b.content(24<<10))
	if err := os.Rename(b.path("Backups/chatsettings.db.crypt14.tmp"), b.path("Backups/chatsettings.db.crypt14")); err != nil {
		b.t.Fatal(err) // temp file renamed over the existing backup
	}
	if err := os.Symlink("Databases/msgstore.db.crypt14", b.path("latest.db")); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Rename(b.path("Media/.Statuses"), b.path("Media/Statuses-2026-11")); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Chmod(b.path("Backups/chatsettings.db.crypt14"), 0o600); err != nil {
		b.t.Fatal(err)
	}
	mt := time.Unix(1764100000, 123456789)
	if err := os.Chtimes(b.path("Databases/msgstore-2026-11-21.1.db.crypt14"), mt, mt); err != nil {
		b.t.Fatal(err)
	}
}

// scanTree records every name under root with what a user would compare.
func scanTree(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{Mode: info.Mode()}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			e.Target, err = os.Readlink(p)
		case info.Mode().IsRegular():
			e.Size, e.Mtime = st.Size, st.Mtim.Nano()
			var data []byte
			data, err = os.ReadFile(p)
			sum := sha256.Sum256(data)
			e.SHA256 = hex.EncodeToString(sum[:])
		}
		out[rel] = e
		return err
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	return out
}

// compareTrees fails with every difference between want and got.
func compareTrees(t *testing.T, what string, want, got map[string]entry) {
	t.Helper()
	var diffs []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			diffs = append(diffs, "missing: "+name)
		case g != w:
			diffs = append(diffs, fmt.Sprintf("differs: %s: want %+v, got %+v", name, w, g))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, "unexpected: "+name)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		t.Fatalf("%s: %d differences:\n%s", what, len(diffs), fmt.Sprint(diffs))
	}
}
