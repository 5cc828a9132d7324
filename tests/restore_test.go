package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// noFUSE is a shell script that hides /dev/fuse from the command it then
// runs: in a private mount namespace, /dev becomes a tmpfs holding only
// the few devices a program needs, so any use of FUSE fails (ENOENT).
const noFUSE = `set -e
mount -t tmpfs -o mode=0755 sealfs-nofuse "$NOFUSE_DEV"
for n in null zero random urandom; do
	touch "$NOFUSE_DEV/$n"
	mount --bind "/dev/$n" "$NOFUSE_DEV/$n"
done
mount --move "$NOFUSE_DEV" /dev
if [ -e /dev/fuse ]; then echo "/dev/fuse is still there" >&2; exit 99; fi
exec "$@"`

// requireNoFUSESandbox skips (or in strict mode fails) when the test
// cannot hide FUSE from a command (it needs root and unshare).
func requireNoFUSESandbox(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("unshare")
	if err == nil && os.Geteuid() != 0 {
		err = errors.New("hiding /dev/fuse needs root")
	}
	if err == nil {
		return
	}
	if strict() {
		t.Fatalf("the no-FUSE sandbox is required (SEALFS_STRICT=1) but unavailable: %v", err)
	}
	t.Skipf("no-FUSE sandbox unavailable: %v", err)
}

// runNoFUSE is d.run with FUSE unavailable to sealfs (noFUSE).
func (d *device) runNoFUSE(extraEnv []string, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	devDir := d.t.TempDir()
	argv := append([]string{"--mount", "--propagation", "private", "sh", "-c", noFUSE, "sh", sealfsBin}, args...)
	cmd := exec.CommandContext(ctx, "unshare", argv...)
	for k, v := range d.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "NOFUSE_DEV="+devDir)
	cmd.Env = append(cmd.Env, extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		d.t.Fatalf("running sealfs %s without FUSE: %v", strings.Join(args, " "), err)
	}
	if code == 99 {
		d.t.Fatalf("the no-FUSE sandbox did not hide /dev/fuse: %s", errb.String())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// okNoFUSE is runNoFUSE that fails the test unless sealfs exits 0.
func (d *device) okNoFUSE(extraEnv []string, args ...string) result {
	d.t.Helper()
	r := d.runNoFUSE(extraEnv, args...)
	if r.code != 0 {
		d.t.Fatalf("%s: sealfs %s (no FUSE): %s", d.name, strings.Join(args, " "), r)
	}
	return r
}

// objectList is every object of a store with its size and ETag: what
// "never changes the bucket" compares.
func objectList(t *testing.T, s remote.Store) []string {
	t.Helper()
	var out []string
	err := s.List(context.Background(), "", func(o remote.ObjectInfo) error {
		out = append(out, o.Key+" "+o.ETag+" "+time.Duration(o.Size).String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// inodes maps every regular file under root to its inode number: a file
// rewritten (even with the same bytes) gets a new one, since restore
// renames a new file into place.
func inodes(t *testing.T, root string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			out[p] = fi.Sys().(*syscall.Stat_t).Ino
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestoreWithoutFUSES3(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	requireNoFUSESandbox(t)
	restoreWithoutFUSE(t, s3Store(t))
}

func TestRestoreWithoutFUSEDirectory(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	requireNoFUSESandbox(t)
	restoreWithoutFUSE(t, dirStore(t))
}

// restoreWithoutFUSE is the user with no FUSE (a new Mac, a container, a
// rescue system) getting the chat backup back: restore recreates exactly
// the tree device A wrote, ls and cat show it, a second restore transfers
// nothing, the bucket is never changed and no plaintext lands anywhere
// but in the destination.
func restoreWithoutFUSE(t *testing.T, st storeSetup) {
	const pass = "correct horse battery staple"
	a := newDevice(t, "device A", st.env)
	withPass := []string{"SEALFS_PASSPHRASE=" + pass}
	out := a.ok(withPass, append(append([]string{"init"}, fastKDF...), st.location)...)
	rk := parseRecoveryKey(t, out.stdout)
	mnt := a.mount(withPass, st.location, "--device", "phone-a")
	b := newBackup(t, mnt, 7)
	b.writeChatBackup(60)
	// A hard link, and a read-only folder that must still take its files.
	if err := os.Link(b.path("Backups/chatsettings.db.crypt14"), b.path("Backups/chatsettings.link")); err != nil {
		t.Fatal(err)
	}
	// Special files, as rsync -a or tar -x of a home folder leave them.
	if err := syscall.Mkfifo(b.path("Backups/app.fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(b.path("Backups/null"), syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	b.mkdir("Locked")
	b.writeFile("Locked/readme.txt", b.content(1000))
	if err := os.Chmod(b.path("Locked"), 0o555); err != nil {
		t.Fatal(err)
	}
	want := scanTree(t, mnt)
	dbWant, err := os.ReadFile(b.path("Databases/msgstore.db.crypt14"))
	if err != nil {
		t.Fatal(err)
	}
	a.ok(nil, "umount", mnt)

	store := st.open(t)
	defer store.Close()
	before := objectList(t, store)

	dev := newDevice(t, "rescue laptop", st.env)
	withRK := []string{"SEALFS_RECOVERY_KEY=" + rk}
	// FUSE really is unavailable in the sandbox.
	empty := t.TempDir()
	if r := dev.runNoFUSE(withRK, "mount", st.location, empty); r.code == 0 || !strings.Contains(r.stderr, "fuse") {
		t.Fatalf("mount without FUSE: want a refusal naming FUSE, got %s", r)
	}

	dest := filepath.Join(t.TempDir(), "restored")
	r := dev.okNoFUSE(withRK, "restore", st.location, dest)
	compareTrees(t, "the restored tree", want, scanTree(t, dest))
	fi, err := os.Stat(filepath.Join(dest, "Locked"))
	if err != nil || fi.Mode().Perm() != 0o555 {
		t.Fatalf("the read-only folder: want mode 0555, got %v, %v", fi, err)
	}
	var null syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(dest, "Backups/null"), &null); err != nil || null.Mode&syscall.S_IFMT != syscall.S_IFCHR || null.Rdev != unix.Mkdev(1, 3) {
		t.Fatalf("the character device: %+v, %v", null, err)
	}
	a1, _ := os.Stat(filepath.Join(dest, "Backups/chatsettings.db.crypt14"))
	a2, _ := os.Stat(filepath.Join(dest, "Backups/chatsettings.link"))
	if !os.SameFile(a1, a2) {
		t.Fatal("the hard link was restored as a copy")
	}
	if !strings.Contains(r.stdout, "0 already there") {
		t.Fatalf("the first restore into an empty folder skipped files: %s", r.stdout)
	}
	if partials, _ := filepath.Glob(filepath.Join(dest, "*", ".*.sealfs-partial")); len(partials) > 0 {
		t.Fatalf("partial files left behind: %v", partials)
	}

	// Again: every file is already there; none is written again.
	ino := inodes(t, dest)
	r = dev.okNoFUSE(withRK, "restore", st.location, dest)
	if !strings.HasPrefix(r.stdout, "restored 0 files (0 B)") {
		t.Fatalf("the second restore downloaded files again: %s", r.stdout)
	}
	if got := inodes(t, dest); !maps.Equal(ino, got) {
		t.Fatalf("the second restore rewrote files (inodes changed)")
	}
	compareTrees(t, "the tree after a second restore", want, scanTree(t, dest))

	// An interrupted restore: a file cut short and a leftover partial
	// file are put right by the next run.
	db := filepath.Join(dest, "Databases/msgstore.db.crypt14")
	if err := os.Truncate(db, 1<<20); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dest, "Databases/.msgstore-2026-11-21.1.db.crypt14.sealfs-partial")
	if err := os.WriteFile(partial, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = dev.okNoFUSE(withRK, "restore", st.location, dest)
	if !strings.HasPrefix(r.stdout, "restored 1 file (40.0 MiB)") {
		t.Fatalf("restore after a cut-short file: want exactly that file downloaded again, got %s", r.stdout)
	}
	compareTrees(t, "the tree after resuming", want, scanTree(t, dest))
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the leftover partial file is still there: %v", err)
	}

	// One folder only.
	part := filepath.Join(t.TempDir(), "part")
	dev.okNoFUSE(withRK, "restore", st.location, part, "Media/WhatsApp Video")
	for name, e := range scanTree(t, part) {
		if !strings.HasPrefix(name, "Media") {
			t.Fatalf("restore of one folder brought %s", name)
		}
		if name != "Media" && e != want[name] {
			t.Fatalf("%s: want %+v, got %+v", name, want[name], e)
		}
	}

	// ls and cat.
	r = dev.okNoFUSE(withRK, "ls", st.location)
	for _, name := range []string{"Backups/", "Databases/", "Media/", "latest.db"} {
		if !slices.Contains(strings.Split(strings.TrimSpace(r.stdout), "\n"), name) {
			t.Fatalf("ls does not list %q:\n%s", name, r.stdout)
		}
	}
	r = dev.okNoFUSE(withRK, "ls", "-R", "--json", st.location)
	var ents []struct {
		Path, Type, Mode, Mtime, Target string
		Size                            uint64
	}
	if err := json.Unmarshal([]byte(r.stdout), &ents); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	if len(ents) != len(want) {
		t.Fatalf("ls -R --json lists %d names, want %d", len(ents), len(want))
	}
	for _, e := range ents {
		w, ok := want[e.Path]
		if !ok {
			t.Fatalf("ls lists %q, which was not written", e.Path)
		}
		mt, err := time.Parse(time.RFC3339Nano, e.Mtime)
		switch {
		case err != nil:
			t.Fatalf("ls --json mtime %q: %v", e.Mtime, err)
		case e.Type == "file" && (e.Size != uint64(w.Size) || mt.UnixNano() != w.Mtime):
			t.Fatalf("ls --json %s: size %d mtime %s, want %d %d", e.Path, e.Size, e.Mtime, w.Size, w.Mtime)
		case e.Type == "symlink" && e.Target != w.Target:
			t.Fatalf("ls --json %s: target %q, want %q", e.Path, e.Target, w.Target)
		case e.Type != "symlink" && e.Mode != fmt.Sprintf("%04o", uint32(w.Mode.Perm())):
			t.Fatalf("ls --json %s: mode %s, want %04o", e.Path, e.Mode, uint32(w.Mode.Perm()))
		}
	}
	r = dev.okNoFUSE(withRK, "cat", st.location, "Databases/msgstore.db.crypt14")
	if !bytes.Equal([]byte(r.stdout), dbWant) {
		t.Fatalf("cat: %d bytes differ from the %d written", len(r.stdout), len(dbWant))
	}

	if after := objectList(t, store); !slices.Equal(before, after) {
		t.Fatalf("reading without FUSE changed the bucket:\nbefore %v\nafter  %v", before, after)
	}

	// A later backup changes files; --snapshot restores the first one.
	mnt = a.mount(withPass, st.location, "--device", "phone-a")
	b.root = mnt
	b.writeFile("Backups/chatsettings.db.crypt14", b.content(30<<10))
	if err := os.Remove(b.path("latest.db")); err != nil {
		t.Fatal(err)
	}
	a.ok(nil, "umount", mnt)
	r = dev.okNoFUSE(withRK, "snapshots", "--json", st.location)
	var snaps []struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &snaps); err != nil || len(snaps) != 2 {
		t.Fatalf("want two snapshots (two clean unmounts), got %v:\n%s", err, r.stdout)
	}
	if r = dev.runNoFUSE(withRK, "ls", st.location, "latest.db"); r.code != 1 || !strings.Contains(r.stderr, `"latest.db" is not in the vault`) {
		t.Fatalf("ls of a file the latest commit deleted: want exit 1, not in the vault, got %s", r)
	}
	old := filepath.Join(t.TempDir(), "old")
	dev.okNoFUSE(withRK, "restore", "--snapshot", snaps[0].ID, st.location, old)
	compareTrees(t, "the first snapshot, restored", want, scanTree(t, old))
	dirs := []string{dev.home}
	if !strings.HasPrefix(st.location, "s3://") {
		dirs = append(dirs, st.location)
	}
	assertNoPlaintext(t, b.markers, dirs, store)
}

// TestRestoreTampered: one file's data object was tampered with. restore
// names that file, restores every other one and exits 12; cat of it exits
// 12 too, and nothing of it is left in the destination.
func TestRestoreTampered(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	requireNoFUSESandbox(t)
	st := s3Store(t)
	const pass = "tampered restore passphrase"
	a := newDevice(t, "writer", st.env)
	withPass := []string{"SEALFS_PASSPHRASE=" + pass}
	out := a.ok(withPass, append(append([]string{"init"}, fastKDF...), st.location)...)
	rk := parseRecoveryKey(t, out.stdout)
	files := map[string][]byte{ // sizes far apart: each file's object is found by its size
		"a.jpg":          pseudoRandom(1, 300<<10),
		"chats/b.db":     pseudoRandom(2, 1<<20),
		"chats/c/d.opus": pseudoRandom(3, 3<<20),
	}
	mnt := a.mount(withPass, st.location)
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mnt, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(mnt, name), data)
	}
	a.ok(nil, "umount", mnt)

	store := st.open(t)
	defer store.Close()
	_, _, sizes := bucketUsage(t, store)
	key := objectOfSize(sizes, len(files["chats/b.db"]))
	if key == "" {
		t.Fatalf("no data object of chats/b.db's size among %v", sizes)
	}
	data, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	put(t, store, key, data)

	dev := newDevice(t, "restorer", st.env)
	withRK := []string{"SEALFS_RECOVERY_KEY=" + rk}
	dest := t.TempDir()
	for run := range 2 { // the second run skips the good files and still names the bad one
		r := dev.runNoFUSE(withRK, "restore", st.location, dest)
		if r.code != 12 {
			t.Fatalf("run %d: restore of a tampered vault: want exit 12, got %s", run, r)
		}
		var damaged []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "damaged: ") {
				damaged = append(damaged, l)
			}
		}
		if len(damaged) != 1 || !strings.HasPrefix(damaged[0], "damaged: chats/b.db: ") {
			t.Fatalf("run %d: want one damaged line naming chats/b.db, got:\n%s", run, r.stdout)
		}
		if !strings.Contains(r.stderr, "1 file not restored") {
			t.Fatalf("run %d: the error does not say how many files were not restored: %s", run, r.stderr)
		}
		for name, want := range files {
			got, err := os.ReadFile(filepath.Join(dest, name))
			switch {
			case name == "chats/b.db" && !errors.Is(err, os.ErrNotExist):
				t.Fatalf("run %d: the tampered file was created (%d bytes, %v)", run, len(got), err)
			case name != "chats/b.db" && !bytes.Equal(got, want):
				t.Fatalf("run %d: %s was not restored intact (%d bytes, %v)", run, name, len(got), err)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(dest, "chats", ".*")); len(left) > 0 {
			t.Fatalf("run %d: a partial file of the tampered file was left: %v", run, left)
		}
	}
	// check --json names the same file.
	r := dev.run(withRK, "check", "--json", "--read-data", st.location)
	var chk struct {
		Damaged bool
		Damage  []struct{ Path, Object string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &chk); r.code != 12 || err != nil {
		t.Fatalf("check --json of the tampered vault: want exit 12 and JSON (%v), got %s", err, r)
	}
	if !chk.Damaged || len(chk.Damage) != 1 || chk.Damage[0].Path != "/chats/b.db" || chk.Damage[0].Object != key {
		t.Fatalf("check --json: want one damage of /chats/b.db in %s, got %+v", key, chk)
	}
	r = dev.runNoFUSE(withRK, "cat", st.location, "chats/b.db")
	if r.code != 12 || !strings.Contains(r.stderr, "chats/b.db") {
		t.Fatalf("cat of the tampered file: want exit 12 naming it, got exit %d, stderr %s", r.code, r.stderr)
	}
	if r = dev.okNoFUSE(withRK, "cat", st.location, "chats/c/d.opus"); !bytes.Equal([]byte(r.stdout), files["chats/c/d.opus"]) {
		t.Fatal("cat of an intact file returned other bytes")
	}
}

// TestEngineHasNoFUSE: restore, ls and cat read through fs/vault, which
// must not depend on go-fuse (by construction, not only by test).
func TestEngineHasNoFUSE(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/sealfs/sealfs/fs/vault").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "go-fuse") {
			t.Fatalf("fs/vault depends on %s", dep)
		}
	}
}

// TestReadBadInput: ls, cat and restore refuse bad input with one line
// that says what is wrong, and a wrong secret creates no destination.
func TestReadBadInput(t *testing.T) {
	t.Parallel()
	st := dirStore(t)
	d := newDevice(t, "any", st.env)
	pass := []string{"SEALFS_PASSPHRASE=reading bad input passphrase"}
	d.ok(pass, append(append([]string{"init"}, fastKDF...), st.location)...)
	expectFail(t, d, pass, 1, []string{`has no snapshot "deadbeef"`, "sealfs snapshots"}, "ls", "--snapshot", "deadbeef", st.location)
	expectFail(t, d, pass, 1, []string{`"chats/x" is not in the vault`}, "ls", st.location, "chats/x")
	expectFail(t, d, pass, 2, []string{`"/" is a folder`, "sealfs restore"}, "cat", st.location, "/")
	expectFail(t, d, pass, 2, []string{"restore needs STORE and DEST"}, "restore", st.location)
	expectFail(t, d, pass, 2, []string{"--parallel 0"}, "restore", "--parallel", "0", st.location, t.TempDir())
	dest := filepath.Join(t.TempDir(), "dest")
	expectFail(t, d, []string{"SEALFS_PASSPHRASE=not the passphrase"}, 10, []string{"wrong passphrase"}, "restore", st.location, dest)
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore created its destination: %v", err)
	}
	if r := d.ok(pass, "ls", "--json", st.location); strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("ls --json of an empty vault: %q", r.stdout)
	}
	if r := d.ok(pass, "restore", st.location, dest); !strings.HasPrefix(r.stdout, "restored 0 files") {
		t.Fatalf("restore of an empty vault: %s", r)
	}
}

// getCounter is a loopback proxy in front of the test server that counts
// the GETs of data objects: each key, and the most in flight at once.
type getCounter struct {
	mu             sync.Mutex
	keys           map[string]int
	inFlight, most int
}

func newGetCounter(t *testing.T) (*getCounter, *s3test.S3Server) {
	srv := s3test.Server(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &getCounter{keys: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // signed by the client
	}}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/data/")
		if data {
			c.mu.Lock()
			c.keys[r.URL.Path]++
			c.inFlight++
			c.most = max(c.most, c.inFlight)
			c.mu.Unlock()
			defer func() { c.mu.Lock(); c.inFlight--; c.mu.Unlock() }()
		}
		rp.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	view := *srv
	view.Endpoint = "http://" + ln.Addr().String()
	return c, &view
}

// reset forgets what was counted.
func (c *getCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.keys)
	c.most = 0
}

// TestRestoreFetchesEachObjectOnce restores a chat backup of many small
// files (packed several to an object), a database of several chunks with
// a packed tail, one whose first chunk ends in zeros, and a sparse file:
// every file comes back byte for byte,
// every data object is fetched with exactly one GET (a pack once for all
// its files), and no more GETs run at once than --parallel asks for (the
// memory bound: one range of at most a chunk per download).
func TestRestoreFetchesEachObjectOnce(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	counter, srv := newGetCounter(t)
	st := s3StoreOn(t, srv)
	const pass = "correct horse battery staple"
	withPass := []string{"SEALFS_PASSPHRASE=" + pass}
	a := newDevice(t, "device A", st.env)
	a.ok(withPass, append(append([]string{"init"}, fastKDF...), st.location)...)
	mnt := a.mount(withPass, st.location, "--device", "phone-a")
	b := newBackup(t, mnt, 16)
	b.mkdir("Databases")
	b.writeFile("Databases/msgstore.db", b.content(9<<20+12345))
	// A chunk that ends in zeros is stored without them: restore's
	// direct writes pad it to a whole block, which must read as zeros.
	wal := b.content(5 << 20)
	clear(wal[4<<20-5000 : 4<<20])
	b.writeFile("Databases/msgstore.db-wal", wal)
	for _, dir := range []string{"Media/WhatsApp Images", "Media/WhatsApp Voice Notes", "Media/.Statuses"} {
		b.mkdir(dir)
		for i := range 120 {
			b.writeFile(fmt.Sprintf("%s/IMG-%03d.jpg", dir, i), b.content(1+(i*7919)%(48<<10)))
		}
	}
	sparse, err := os.Create(b.path("Databases/sparse.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sparse.WriteAt(b.content(70000), 6<<20); err != nil {
		t.Fatal(err)
	}
	if err := sparse.Close(); err != nil {
		t.Fatal(err)
	}
	want := scanTree(t, mnt)
	a.ok(nil, "umount", mnt)

	store := st.open(t)
	defer store.Close()
	var objects []string
	for _, o := range objectList(t, store) {
		if k, _, _ := strings.Cut(o, " "); strings.HasPrefix(k, "data/") {
			objects = append(objects, k)
		}
	}
	if len(objects) >= 100 {
		t.Fatalf("%d data objects for 360 small files and three big ones: the small files were not packed", len(objects))
	}

	counter.reset()
	dev := newDevice(t, "new phone", st.env)
	dest := filepath.Join(t.TempDir(), "restored")
	dev.ok(withPass, "restore", "--parallel", "3", st.location, dest)
	compareTrees(t, "the restored tree", want, scanTree(t, dest))

	counter.mu.Lock()
	defer counter.mu.Unlock()
	var twice []string
	for k, n := range counter.keys {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s %d times", k, n))
		}
	}
	if len(twice) > 0 || len(counter.keys) != len(objects) {
		t.Errorf("restore fetched %d of the %d data objects; more than once: %v", len(counter.keys), len(objects), twice)
	}
	if counter.most > 3 {
		t.Errorf("%d GETs of data at once with --parallel 3", counter.most)
	}
}
