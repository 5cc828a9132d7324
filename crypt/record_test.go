package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	key := testKeys(t, SuiteAES256GCM).Meta
	for _, n := range []int{0, 1, 2, 7, 8, 100, 1000, 4095, 4096, 65537, 1 << 20} {
		t.Run(fmt.Sprintf("len=%d", n), func(t *testing.T) {
			p := detBytes(fmt.Sprint("payload", n), n)
			rec, err := SealRecord(nil, key, KindSnapshot, uint64(n)+1, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := OpenRecord(key, KindSnapshot, uint64(n)+1, rec)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("round trip: %v", err)
			}
			if seq, err := RecordSeq(rec); err != nil || seq != uint64(n)+1 {
				t.Fatalf("RecordSeq = %d, %v", seq, err)
			}
			if kind, _, _ := ParseRecordHeader(rec); kind != KindSnapshot {
				t.Fatalf("kind %d", kind)
			}
			want := RecordOverhead - recordLenSize + int(padme(uint64(recordLenSize+n)))
			if len(rec) != want {
				t.Fatalf("sealed %d bytes, want %d", len(rec), want)
			}
		})
	}
}

// TestRecordPaddingHidesSize: payloads of nearby sizes seal to the same
// length, and padding never adds more than 12%.
func TestRecordPaddingHidesSize(t *testing.T) {
	key := testKeys(t, SuiteAES256GCM).Meta
	sizes := map[int]bool{}
	for n := 10000; n < 10500; n++ {
		rec, _ := SealRecord(nil, key, KindJournal, 1, make([]byte, n))
		sizes[len(rec)] = true
	}
	if len(sizes) > 3 {
		t.Fatalf("500 consecutive payload sizes gave %d distinct sealed sizes", len(sizes))
	}
	for l := uint64(0); l < 1<<22; l = l*5/4 + 1 {
		p := padme(l)
		if p < l || float64(p) > float64(l)*1.12+1 {
			t.Fatalf("padme(%d) = %d", l, p)
		}
		if padme(p) != p {
			t.Fatalf("padme not idempotent at %d", l)
		}
	}
}

func TestRecordNonceIsRandom(t *testing.T) {
	key := testKeys(t, SuiteAES256GCM).Meta
	a, _ := SealRecord(nil, key, KindHead, 1, []byte("same"))
	b, _ := SealRecord(nil, key, KindHead, 1, []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same record are identical: nonce not random")
	}
}

func TestRecordHeaderErrors(t *testing.T) {
	key := testKeys(t, SuiteAES256GCM).Meta
	rec, _ := SealRecord(nil, key, KindHead, 5, []byte("x"))
	bad := bytes.Clone(rec)
	bad[0] = 2
	for name, b := range map[string][]byte{"short": rec[:RecordOverhead-1], "unknown version": bad, "empty": nil} {
		var pe *ParseError
		if _, err := RecordSeq(b); !errors.As(err, &pe) {
			t.Errorf("%s: RecordSeq err = %v, want *ParseError", name, err)
		}
	}
	if _, err := SealRecord(bytes.NewReader(nil), key, KindHead, 1, nil); err == nil {
		t.Error("SealRecord with failing rand succeeded")
	}
}

func TestRecoveryKeyText(t *testing.T) {
	var rk RecoveryKey
	newDetRand("rk").Read(rk[:])
	d := rk.Display()
	if len(d) != 79 || len(bytesSplit(d)) != 16 {
		t.Fatalf("Display %q: want 16 dash-separated groups of 4", d)
	}
	variants := []string{
		d,
		bytesUpper(d),
		replaceAll(d, "-", " "),
		replaceAll(d, "-", ""),
		"  " + replaceAll(d, "-", " - ") + "\n",
	}
	for _, s := range variants {
		got, err := ParseRecoveryKey(s)
		if err != nil || got != rk {
			t.Errorf("ParseRecoveryKey(%q) = %v", s, err)
		}
	}
	for name, s := range map[string]string{
		"63 digits": d[:len(d)-1],
		"65 digits": d + "0",
		"letter g":  "g" + d[1:],
		"empty":     "",
	} {
		var pe *ParseError
		if _, err := ParseRecoveryKey(s); !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want *ParseError", name, err)
		} else if bytes.Contains([]byte(err.Error()), []byte(d[5:9])) {
			t.Errorf("%s: error echoes key digits: %v", name, err)
		}
	}
}

func bytesSplit(s string) [][]byte { return bytes.Split([]byte(s), []byte("-")) }
func bytesUpper(s string) string   { return string(bytes.ToUpper([]byte(s))) }
func replaceAll(s, a, b string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(a), []byte(b)))
}

// TestSecretsRedacted: printing a key or recovery key in any verb never
// shows its bytes.
func TestSecretsRedacted(t *testing.T) {
	var k Key
	var rk RecoveryKey
	newDetRand("secret").Read(k[:])
	copy(rk[:], k[:])
	keys := DeriveKeys(k, SuiteAES256GCM, DefaultChunkSize)
	hexK := fmt.Sprintf("%x", k[:4])
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %s %+v %#v", k, k, k, k),
		fmt.Sprintf("%v %s %#v", rk, rk, rk), fmt.Sprintf("%v %+v", keys, *keys),
	} {
		if bytes.Contains([]byte(s), []byte(hexK)) || !bytes.Contains([]byte(s), []byte("REDACTED")) {
			t.Errorf("leaks or not redacted: %s", s)
		}
	}
}

func TestPaddedSize(t *testing.T) {
	for _, c := range [][2]int64{{0, 0}, {1, 1}, {100, 104}, {1000, 1024}, {SegmentSize + 1, 67584}, {DefaultChunkSize - 1, DefaultChunkSize}} {
		if got := PaddedSize(c[0]); got != c[1] {
			t.Errorf("PaddedSize(%d) = %d, want %d", c[0], got, c[1])
		}
	}
	for n := int64(1); n <= MaxObjectSize; n = n*3/2 + 1 {
		if p := PaddedSize(n); p < n || p > MaxObjectSize || float64(p) > float64(n)*1.12+1 {
			t.Fatalf("PaddedSize(%d) = %d", n, p)
		}
	}
}
