package tests

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

// TestDedupThroughMount is issue 21 as a user sees it, through a real
// mount on MinIO (uploads counted by a proxy in front of it) and on the
// directory store: copying a big file inside the mount, and `cp -r` of a
// folder of photos to a second folder, upload almost nothing, and every
// copy reads back identical on another device.
func TestDedupThroughMount(t *testing.T) {
	requireFUSE(t)
	t.Parallel()
	const pass = "correct horse battery staple"
	forUploadCounted(t, pass, func(t *testing.T, _ string, st storeSetup, dev *device, up func() int64) {
		withPass := []string{"SEALFS_PASSPHRASE=" + pass}
		mnt := dev.mount(withPass, st.location, "--device", "laptop")
		r := rand.New(rand.NewPCG(21, 21))
		big := make([]byte, 48<<20+12345)
		_, _ = rand.NewChaCha8([32]byte{21}).Read(big)
		writeFile(t, filepath.Join(mnt, "msgstore.db.crypt15"), big)
		photos := filepath.Join(mnt, "Media", "WhatsApp Images")
		if err := os.MkdirAll(photos, 0o755); err != nil {
			t.Fatal(err)
		}
		var photoBytes int64
		for i := range 40 {
			p := make([]byte, 50<<10+r.IntN(3<<20))
			_, _ = rand.NewChaCha8([32]byte{byte(i), 1}).Read(p)
			writeFile(t, filepath.Join(photos, fmt.Sprintf("IMG-20261206-WA%04d.jpg", i)), p)
			photoBytes += int64(len(p))
		}
		fsyncAll(t, mnt)
		before := up()

		cp := func(args ...string) {
			if out, err := exec.Command("cp", args...).CombinedOutput(); err != nil {
				t.Fatalf("cp %v: %v\n%s", args, err, out)
			}
		}
		cp(filepath.Join(mnt, "msgstore.db.crypt15"), filepath.Join(mnt, "msgstore.db.crypt15.bak"))
		fsyncAll(t, mnt)
		if got := up() - before; got >= 1<<20 {
			t.Errorf("copying a %d MiB file inside the mount uploaded %d bytes; want < 1 MiB", len(big)>>20, got)
		}
		before = up()
		cp("-r", photos, filepath.Join(mnt, "Media", "Copy of WhatsApp Images"))
		fsyncAll(t, mnt)
		if got := up() - before; got*50 >= photoBytes {
			t.Errorf("cp -r of %d MiB of photos uploaded %d bytes; want < 2 %%", photoBytes>>20, got)
		}
		dev.ok(nil, "umount", mnt)

		other := newDevice(t, "phone", st.env)
		ro := other.mount(withPass, st.location, "--read-only")
		for _, p := range []string{"msgstore.db.crypt15", "msgstore.db.crypt15.bak"} {
			if got, err := os.ReadFile(filepath.Join(ro, p)); err != nil || !bytes.Equal(got, big) {
				t.Errorf("%s differs after the copy (%v)", p, err)
			}
		}
		for i := range 40 {
			name := fmt.Sprintf("IMG-20261206-WA%04d.jpg", i)
			a, err1 := os.ReadFile(filepath.Join(ro, "Media", "WhatsApp Images", name))
			b, err2 := os.ReadFile(filepath.Join(ro, "Media", "Copy of WhatsApp Images", name))
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: the copy differs (%v, %v)", name, err1, err2)
			}
		}
		other.ok(nil, "umount", ro)
		other.ok(withPass, "check", "--read-data", st.location)
	})
}

// forUploadCounted runs fn, in a subtest named after the store, on a
// fresh vault (made with pass by dev, the device "laptop") in each store
// whose uploads a test can count: MinIO through the counting proxy (up:
// the data PUT bytes so far) and the dir store (up: its data objects'
// bytes, which identical content does not grow).
func forUploadCounted(t *testing.T, pass string, fn func(t *testing.T, name string, st storeSetup, dev *device, up func() int64)) {
	proxy := s3test.NewIfMatchProxy(t, s3test.PassIfMatch)
	for _, tc := range []struct {
		name     string
		st       storeSetup
		uploaded func() int64 // data bytes uploaded so far; nil: store growth
	}{
		{"minio", s3StoreOn(t, proxy.S3Server), proxy.DataPutBytes},
		{"dir", dirStore(t), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			dev := newDevice(t, "laptop", st.env)
			dev.ok([]string{"SEALFS_PASSPHRASE=" + pass}, append(append([]string{"init"}, fastKDF...), st.location)...)
			up := tc.uploaded
			if up == nil {
				up = func() int64 { return dataBytes(t, st.open(t)) }
			}
			fn(t, tc.name, st, dev, up)
		})
	}
}

// dataBytes is the size of the chunk objects in a store: on the directory
// store, where identical content would land on the same key, what it grew
// by is what was stored.
func dataBytes(t *testing.T, s remote.Store) int64 {
	t.Helper()
	var n int64
	if err := s.List(context.Background(), "data/", func(o remote.ObjectInfo) error { n += o.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// fsyncAll fsyncs every regular file under dir: when it returns, their
// data is in the store and committed.
func fsyncAll(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	if err != nil {
		t.Fatal(err)
	}
}
