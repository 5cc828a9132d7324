package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// telegramExport is n bytes of a Telegram-Desktop-style JSON chat export.
func telegramExport(n int) []byte {
	r := rand.New(rand.NewPCG(4, 4))
	words := strings.Fields("hey ok yes no see you at eight did you get the photos tomorrow the train is late again " +
		"love you call me where are you on my way happy birthday 😂 👍 ❤️ lol really? sure thanks good night")
	names := []string{"Alice", "Bob", "Mum", "Dad", "Sam", "Work group"}
	var b bytes.Buffer
	b.WriteString("{\n \"name\": \"Family\",\n \"type\": \"private_group\",\n \"messages\": [\n")
	for id := 1; b.Len() < n; id++ {
		text := make([]string, 1+r.IntN(12))
		for i := range text {
			text[i] = words[r.IntN(len(words))]
		}
		fmt.Fprintf(&b, "  {\n   \"id\": %d,\n   \"type\": \"message\",\n   \"date\": \"2026-12-%02dT%02d:%02d:%02d\",\n"+
			"   \"date_unixtime\": \"%d\",\n   \"from\": %q,\n   \"from_id\": \"user%d\",\n   \"text\": %q\n  },\n",
			id, 1+r.IntN(6), r.IntN(24), r.IntN(60), r.IntN(60), 1796000000+id*37, names[r.IntN(len(names))],
			100000+r.IntN(6), strings.Join(text, " "))
	}
	return b.Bytes()[:n]
}

// TestCompressThroughMount (format 4): through a real mount, on MinIO
// (data PUT bytes counted by the proxy) and on the dir store: with
// --compress a 20 MiB chat export uploads under a fifth of its size, and
// an identical copy of it nothing; 8 MiB of random bytes (a sealed
// database) upload at least their size (probed, stored as they are); the
// same export written by a mount without --compress uploads its whole
// size. Another device reads everything back byte for byte, whole and at
// random offsets; restore writes the same bytes; check --read-data is
// clean. Then (dir store) one bit of every compressed object is flipped:
// reading the export fails with EIO, never returns bytes, and check finds
// the damage.
func TestCompressThroughMount(t *testing.T) {
	requireFUSE(t)
	t.Parallel()
	const pass = "correct horse battery staple"
	forUploadCounted(t, pass, func(t *testing.T, name string, st storeSetup, dev *device, up func() int64) {
		withPass := []string{"SEALFS_PASSPHRASE=" + pass}
		export := telegramExport(20<<20 + 4321)
		dense := make([]byte, 8<<20+99)
		_, _ = rand.NewChaCha8([32]byte{7}).Read(dense)

		mnt := dev.mount(withPass, st.location, "--compress")
		for _, d := range []string{"ChatExport_2026-12-06", "ChatExport_2026-12-07"} {
			if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		before := up()
		writeFile(t, filepath.Join(mnt, "ChatExport_2026-12-06", "result.json"), export)
		fsyncAll(t, mnt)
		exportUp := up() - before
		if exportUp*5 > int64(len(export)) {
			t.Errorf("with --compress a %d MiB chat export uploaded %d bytes; want under a fifth", len(export)>>20, exportUp)
		}
		before = up()
		writeFile(t, filepath.Join(mnt, "msgstore.db.crypt15"), dense)
		fsyncAll(t, mnt)
		if got := up() - before; got < int64(len(dense)) {
			t.Errorf("with --compress %d random bytes uploaded %d: want at least their size (not compressed)", len(dense), got)
		}
		before = up()
		writeFile(t, filepath.Join(mnt, "ChatExport_2026-12-07", "result.json"), export)
		fsyncAll(t, mnt)
		if got := up() - before; got >= 1<<20 {
			t.Errorf("an identical copy of the compressed export uploaded %d bytes; want < 1 MiB", got)
		}
		dev.ok(nil, "umount", mnt)

		mnt = dev.mount(withPass, st.location)
		before = up()
		writeFile(t, filepath.Join(mnt, "plain.json"), export)
		fsyncAll(t, mnt)
		plainUp := up() - before
		if plainUp < int64(len(export)) {
			t.Errorf("without --compress the export uploaded %d bytes; want at least its %d", plainUp, len(export))
		}
		t.Logf("%d-byte chat export: %d bytes uploaded with --compress, %d without", len(export), exportUp, plainUp)
		dev.ok(nil, "umount", mnt)

		other := newDevice(t, "phone", st.env)
		ro := other.mount(withPass, st.location, "--read-only")
		want := map[string][]byte{
			"ChatExport_2026-12-06/result.json": export, "ChatExport_2026-12-07/result.json": export,
			"plain.json": export, "msgstore.db.crypt15": dense,
		}
		r := rand.New(rand.NewPCG(9, 9))
		for p, w := range want {
			if got, err := os.ReadFile(filepath.Join(ro, p)); err != nil || !bytes.Equal(got, w) {
				t.Errorf("%s differs (%v)", p, err)
			}
			f, err := os.Open(filepath.Join(ro, p))
			if err != nil {
				t.Fatal(err)
			}
			for range 100 {
				off := r.Int64N(int64(len(w)))
				buf := make([]byte, 1+r.IntN(300<<10))
				n, err := f.ReadAt(buf, off)
				if err != nil && n < len(buf) && off+int64(n) != int64(len(w)) || !bytes.Equal(buf[:n], w[off:off+int64(n)]) {
					t.Fatalf("%s: %d bytes at %d: %d read (%v), or different", p, len(buf), off, n, err)
				}
			}
			f.Close()
		}
		other.ok(nil, "umount", ro)
		other.ok(withPass, "check", "--read-data", st.location)
		dest := filepath.Join(t.TempDir(), "restored")
		other.okNoFUSE(withPass, "restore", st.location, dest)
		for p, w := range want {
			if got, err := os.ReadFile(filepath.Join(dest, p)); err != nil || !bytes.Equal(got, w) {
				t.Errorf("restore: %s differs (%v)", p, err)
			}
		}
		if name != "dir" {
			return
		}

		// Tampering: one bit of every object smaller than a full chunk
		// (the export's frames; the random file's chunks are full).
		full := int64(0)
		var objs []string
		err := filepath.WalkDir(filepath.Join(st.location, "data"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			full = max(full, fi.Size())
			objs = append(objs, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		flipped := 0
		for _, p := range objs {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) >= full || len(b) < 1000 {
				continue
			}
			b[len(b)/2] ^= 0x10
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			flipped++
		}
		if flipped == 0 {
			t.Fatal("no compressed object to tamper with")
		}
		tablet := newDevice(t, "tablet", st.env)
		ro = tablet.mount(withPass, st.location, "--read-only")
		f, err := os.Open(filepath.Join(ro, "ChatExport_2026-12-06", "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64<<10)
		for _, off := range []int64{0, 5 << 20, 17<<20 + 12345} {
			n, err := f.ReadAt(buf, off)
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("read at %d of a tampered compressed chunk: %d bytes, %v; want EIO", off, n, err)
			}
		}
		f.Close()
		tablet.ok(nil, "umount", ro)
		res := other.run(withPass, "check", "--read-data", st.location)
		if res.code == 0 || !strings.Contains(res.stdout+res.stderr, "damage") {
			t.Errorf("check --read-data on tampered compressed objects: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
	})
}
