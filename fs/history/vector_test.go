package history

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/fs/meta"
)

var update = flag.Bool("update", false, "write testdata/record.json (only for a new vector, never to edit one)")

// seedReader is a deterministic random source for vectors: SHA-256 of the
// seed and a counter.
type seedReader struct {
	seed string
	n    uint64
	buf  []byte
}

func (r *seedReader) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], r.n)
		r.n++
		sum := sha256.Sum256(append([]byte(r.seed), c[:]...))
		r.buf = append(r.buf, sum[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

type recordVector struct {
	Master   string `json:"master_key"` // hex; Keys.Meta = HKDF(master, "sealfs v1 meta")
	RandSeed string `json:"rand_seed"`
	Key      string `json:"key"`
	ID       string `json:"id"`
	Time     string `json:"time"`
	Device   string `json:"device"`
	Files    uint64 `json:"files"`
	Bytes    uint64 `json:"bytes"`
	TreeSeq  uint64 `json:"tree_seq"`
	TreeKey  string `json:"tree_key"`
	TreeHash string `json:"tree_hash"`
	Payload  string `json:"payload"`
	Sealed   string `json:"sealed"`
}

func vectorSnapshot() (*crypt.Keys, Snapshot) {
	var master crypt.Key
	copy(master[:], "sealfs catalog vector master key")
	k := crypt.DeriveKeys(master, crypt.SuiteAES256GCM, crypt.DefaultChunkSize)
	s := Snapshot{
		ID: "3f9a2c1e", Time: time.Date(2026, 11, 27, 3, 0, 0, 123456789, time.UTC),
		Device: "phone", Files: 1204, Bytes: 734003200,
		Tree: meta.ObjectRef{Seq: 42, Key: "meta/000000000000002a-0badc0de.snap", Hash: sha256.Sum256([]byte("snapshot bytes"))},
	}
	s.Key = layout.SnapshotKey(s.Tree.Seq, s.ID)
	return k, s
}

// TestRecordVector: the frozen catalog record opens to the same fields and
// sealing them again with the same randomness gives the same bytes.
func TestRecordVector(t *testing.T) {
	k, s := vectorSnapshot()
	sealed, err := crypt.SealRecord(&seedReader{seed: "sealfs catalog vector"}, k.Meta, crypt.KindSnapIndex, s.Tree.Seq, encodeRecord(&s))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		v := recordVector{
			Master: hex.EncodeToString([]byte("sealfs catalog vector master key")), RandSeed: "sealfs catalog vector",
			Key: s.Key, ID: s.ID, Time: s.Time.Format(time.RFC3339Nano), Device: s.Device, Files: s.Files, Bytes: s.Bytes,
			TreeSeq: s.Tree.Seq, TreeKey: s.Tree.Key, TreeHash: hex.EncodeToString(s.Tree.Hash[:]),
			Payload: hex.EncodeToString(encodeRecord(&s)), Sealed: hex.EncodeToString(sealed),
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile("testdata/record.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/record.json")
	if err != nil {
		t.Fatal(err)
	}
	var v recordVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(sealed) != v.Sealed || hex.EncodeToString(encodeRecord(&s)) != v.Payload {
		t.Fatal("sealing the vector's fields no longer gives the frozen bytes: a format change needs a new version")
	}
	frozen, _ := hex.DecodeString(v.Sealed)
	got, err := openRecord(k, v.Key, frozen)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != v.ID || got.Device != v.Device || got.Files != v.Files || got.Bytes != v.Bytes ||
		got.Tree.Seq != v.TreeSeq || got.Tree.Key != v.TreeKey || hex.EncodeToString(got.Tree.Hash[:]) != v.TreeHash ||
		got.Time.UTC().Format(time.RFC3339Nano) != v.Time {
		t.Fatalf("frozen record opens to %+v", got)
	}
}

// FuzzDecodeRecord: no panic; an accepted payload re-encodes identically.
func FuzzDecodeRecord(f *testing.F) {
	_, s := vectorSnapshot()
	f.Add(encodeRecord(&s))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := decodeRecord(p)
		if err != nil {
			if got != nil {
				t.Fatal("result with an error")
			}
			return
		}
		if string(encodeRecord(got)) != string(p) {
			t.Fatal("accepted payload does not re-encode identically")
		}
	})
}
