package stage

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
)

func newKey(t testing.TB) crypt.Key {
	var k crypt.Key
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

func newID(t testing.TB) crypt.ObjectID {
	id, err := crypt.NewObjectID(nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sampleIntent(t testing.TB) *Intent {
	return &Intent{
		BaseSeq: 42, BaseMount: "0123abcd", BaseTime: 1700000000123456789,
		Writer: "feedbeef", Device: "phone", Written: time.Now().UnixNano(),
		Next: 1000, Ops: []byte("encoded ops"),
		Objects: []crypt.ObjectID{newID(t), newID(t)},
		Files: []File{
			{Path: "backups/msgstore.db.crypt15", Mode: 0o100644, Uid: 1000, Gid: 1000, Size: 5 << 20, Mtime: -5,
				Extents: []meta.Extent{{Object: newID(t), ObjectSize: 4 << 20, Length: 4 << 20}, {}, {Object: newID(t), ObjectSize: 7, Offset: 1, Length: 5},
					{Object: newID(t), ObjectSize: 4113, Length: 60000, Stored: 4096}}},
			{Path: "empty", Mode: 0o100600},
		},
	}
}

func TestIntentRoundTrip(t *testing.T) {
	d, err := Open(t.TempDir(), newKey(t), nil)
	ok(t, err)
	got, err := d.ReadIntent()
	if got != nil || err != nil {
		t.Fatalf("ReadIntent of a fresh stage: %v, %v; want nil, nil", got, err)
	}
	want := sampleIntent(t)
	ok(t, d.WriteIntent(want))
	got, err = d.ReadIntent()
	ok(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("intent round trip:\n got %+v\nwant %+v", got, want)
	}
	if enc := got.Encode(); !bytes.Equal(enc, want.Encode()) {
		t.Errorf("re-encoding differs")
	}
	ok(t, d.RemoveIntent())
	if got, err := d.ReadIntent(); got != nil || err != nil {
		t.Errorf("after RemoveIntent: %v, %v", got, err)
	}
	ok(t, d.RemoveIntent()) // again is fine
}

// TestIntentCached: an intent written to the cache only reads back like a
// durable one; while a durable intent is on disk (from an attempt that
// waited or failed, or an earlier mount) it is written durably instead;
// an empty intent file (a cached one whose data a power cut lost) reads as
// none, where any other damage is an error.
func TestIntentCached(t *testing.T) {
	d, err := Open(t.TempDir(), newKey(t), nil)
	ok(t, err)
	want := sampleIntent(t)
	ok(t, d.WriteIntentCached(want))
	if !d.IntentCached() {
		t.Error("IntentCached after WriteIntentCached = false")
	}
	got, err := d.ReadIntent()
	ok(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cached intent round trip:\n got %+v\nwant %+v", got, want)
	}
	ok(t, d.RemoveIntent())
	if got, err := d.ReadIntent(); got != nil || err != nil || d.IntentCached() {
		t.Errorf("after RemoveIntent: %v, %v, cached %v", got, err, d.IntentCached())
	}

	ok(t, d.WriteIntent(want))
	ok(t, d.WriteIntentCached(sampleIntent(t)))
	if d.IntentCached() {
		t.Error("WriteIntentCached over a durable intent left it cached only")
	}

	// What a mount finds on disk at open counts as durable.
	d2, err := Open(filepath.Dir(d.Path()), newKey(t), nil)
	ok(t, err)
	ok(t, os.WriteFile(filepath.Join(d2.Path(), intentName), nil, 0o600))
	if got, err := d2.ReadIntent(); got != nil || err != nil {
		t.Errorf("empty intent file: %v, %v; want none", got, err)
	}
	ok(t, os.WriteFile(filepath.Join(d2.Path(), intentName), []byte{1}, 0o600))
	if _, err := d2.ReadIntent(); !errors.Is(err, crypt.ErrAuth) {
		t.Errorf("one-byte intent file: %v; want crypt.ErrAuth", err)
	}
}

// TestIntentHoldsNoPlaintext: names and ops are sealed.
func TestIntentHoldsNoPlaintext(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, newKey(t), nil)
	ok(t, err)
	ok(t, d.WriteIntent(sampleIntent(t)))
	raw, err := os.ReadFile(filepath.Join(d.Path(), intentName))
	ok(t, err)
	for _, m := range []string{"msgstore", "backups", "phone", "encoded ops", "feedbeef"} {
		if bytes.Contains(raw, []byte(m)) {
			t.Errorf("intent file holds %q in plaintext", m)
		}
	}
}

// TestIntentTamper: every modification of the sealed intent, and the
// wrong key, fail with crypt.ErrAuth; nothing is returned. (An empty file
// is no intent at all, as if it had been deleted: TestIntentCached.)
func TestIntentTamper(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	d, err := Open(dir, key, nil)
	ok(t, err)
	ok(t, d.WriteIntent(sampleIntent(t)))
	path := filepath.Join(d.Path(), intentName)
	orig, err := os.ReadFile(path)
	ok(t, err)
	cases := map[string]func([]byte) []byte{
		"flip first byte": func(b []byte) []byte { b[0] ^= 1; return b },
		"flip kind":       func(b []byte) []byte { b[1] ^= 1; return b },
		"flip seq":        func(b []byte) []byte { b[5] ^= 1; return b },
		"flip middle":     func(b []byte) []byte { b[len(b)/2] ^= 0x80; return b },
		"flip last byte":  func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"truncated":       func(b []byte) []byte { return b[:len(b)-1] },
		"truncated to 5":  func(b []byte) []byte { return b[:5] },
		"extended":        func(b []byte) []byte { return append(b, 0) },
		"state file kind": func(b []byte) []byte { return sealed(t, key, crypt.KindLocal, 0, []byte("{}")) },
		"sealed with Local": func(b []byte) []byte {
			return sealed(t, key, crypt.KindLocal, 42, sampleIntent(t).Encode())
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			ok(t, os.WriteFile(path, mutate(bytes.Clone(orig)), 0o600))
			in, err := d.ReadIntent()
			if in != nil || !errors.Is(err, crypt.ErrAuth) {
				t.Errorf("ReadIntent: %v, %v; want nil, ErrAuth", in, err)
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		ok(t, os.WriteFile(path, orig, 0o600))
		other, err := Open(dir, newKey(t), nil)
		ok(t, err)
		if in, err := other.ReadIntent(); in != nil || !errors.Is(err, crypt.ErrAuth) {
			t.Errorf("ReadIntent with another key: %v, %v; want nil, ErrAuth", in, err)
		}
	})
}

func sealed(t *testing.T, key crypt.Key, kind crypt.RecordKind, seq uint64, payload []byte) []byte {
	b, err := crypt.SealRecord(nil, key, kind, seq, payload)
	ok(t, err)
	return b
}

func TestObjects(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, newKey(t), nil)
	ok(t, err)
	a, b := newID(t), newID(t)
	data := bytes.Repeat([]byte{7, 8, 9}, 1000)
	ok(t, d.PutObject(a, data))
	ok(t, d.PutObject(b, data[:10]))
	got, err := d.ReadObject(a)
	ok(t, err)
	if !bytes.Equal(got, data) {
		t.Errorf("ReadObject differs")
	}
	for _, c := range []struct{ off, n, want int64 }{{0, 3, 3}, {2999, 5, 1}, {3000, 5, 0}, {100, 1000, 1000}} {
		r, err := d.ReadObjectRange(a, c.off, c.n)
		ok(t, err)
		if int64(len(r)) != c.want || !bytes.Equal(r, data[c.off:c.off+c.want]) {
			t.Errorf("ReadObjectRange(%d, %d): %d bytes, want %d", c.off, c.n, len(r), c.want)
		}
	}
	// A leftover temporary file and a foreign file.
	ok(t, os.WriteFile(filepath.Join(d.Path(), objectsDir, newID(t).String()+tmpSuffix), []byte("half"), 0o600))
	ok(t, os.WriteFile(filepath.Join(d.Path(), objectsDir, "README"), nil, 0o600))
	d, err = Open(dir, newKey(t), nil)
	ok(t, err)
	objs, err := d.Objects()
	ok(t, err)
	if want := map[crypt.ObjectID]int64{a: 3000, b: 10}; !reflect.DeepEqual(objs, want) {
		t.Errorf("Objects = %v, want %v", objs, want)
	}
	ents, _ := os.ReadDir(filepath.Join(d.Path(), objectsDir))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			t.Errorf("Open left the temporary file %s", e.Name())
		}
	}
	ok(t, d.RemoveObject(a))
	ok(t, d.RemoveObject(a))
	if _, err := d.ReadObject(a); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("ReadObject of a removed object: %v", err)
	}
	if _, err := d.ReadObjectRange(a, 0, 1); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("ReadObjectRange of a removed object: %v", err)
	}
	st, err := os.Stat(d.Path())
	ok(t, err)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("stage dir mode %v, want 0700", st.Mode().Perm())
	}
}

func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, newKey(t), nil)
	ok(t, err)
	id := newID(t)
	ok(t, d.PutObject(id, []byte("sealed")))
	ok(t, d.WriteIntent(sampleIntent(t)))
	to, err := d.Quarantine(time.Now())
	ok(t, err)
	if _, err := os.Stat(filepath.Join(to, objectsDir, id.String())); err != nil {
		t.Errorf("quarantined object: %v", err)
	}
	if _, err := os.Stat(filepath.Join(to, intentName)); err != nil {
		t.Errorf("quarantined intent: %v", err)
	}
	objs, err := d.Objects()
	ok(t, err)
	in, err := d.ReadIntent()
	if len(objs) != 0 || in != nil || err != nil {
		t.Errorf("after quarantine: %d objects, intent %v, %v", len(objs), in, err)
	}
}

// TestDecodeStrict: truncations and trailing bytes of a valid payload are
// errors, never a panic.
func TestDecodeStrict(t *testing.T) {
	enc := sampleIntent(t).Encode()
	for n := range len(enc) {
		if in, err := DecodeIntent(enc[:n]); err == nil || in != nil {
			t.Fatalf("DecodeIntent of %d/%d bytes: %v, %v", n, len(enc), in, err)
		}
	}
	if _, err := DecodeIntent(append(bytes.Clone(enc), 0)); err == nil {
		t.Errorf("trailing byte accepted")
	}
}

func FuzzDecodeIntent(f *testing.F) {
	f.Add(sampleIntent(f).Encode())
	f.Add((&Intent{}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := DecodeIntent(data)
		if err != nil {
			if in != nil {
				t.Fatalf("result with error")
			}
			return
		}
		if !bytes.Equal(in.Encode(), data) {
			t.Fatalf("accepted input does not re-encode identically")
		}
	})
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestIntentVersion1: an intent a format-3 sealfs left behind (payload
// version 1, written by sealfs at 7aa00b2; these bytes are a vector, never
// edited) decodes under version 2 with no stored lengths, and encodes back
// to the same bytes: a crash before an upgrade loses nothing after it.
func TestIntentVersion1(t *testing.T) {
	const v1 = "012a083031323361626364aab4aed8c7bfce972f0866656564626565660570686f6e6580a8a69ccebfce972fe8070b656e636f646564206f707301101112131415161718191a1b1c1d1e1f011b6261636b7570732f6d736773746f72652e64622e63727970743135a48302e807e8078080c0020903202122232425262728292a2b2c2d2e2f80808002008080800200000000000000000000000000000000000000303132333435363738393a3b3c3d3e3f070105"
	enc, err := hex.DecodeString(v1)
	ok(t, err)
	in, err := DecodeIntent(enc)
	ok(t, err)
	if in.BaseSeq != 42 || in.Device != "phone" || string(in.Ops) != "encoded ops" || len(in.Objects) != 1 || len(in.Files) != 1 {
		t.Fatalf("decoded %+v", in)
	}
	f := in.Files[0]
	if f.Path != "backups/msgstore.db.crypt15" || f.Size != 5<<20 || len(f.Extents) != 3 {
		t.Fatalf("decoded file %+v", f)
	}
	if e := f.Extents[2]; e.ObjectSize != 7 || e.Offset != 1 || e.Length != 5 || e.Compressed() || f.Extents[0].Length != 4<<20 || !f.Extents[1].IsHole() {
		t.Errorf("decoded extents %+v", f.Extents)
	}
	if got := in.Encode(); !bytes.Equal(got, enc) {
		t.Errorf("a version-1 intent encodes back as\n%x\nwant\n%x", got, enc)
	}
}
