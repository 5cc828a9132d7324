package lease

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleRecord() *record {
	return &record{
		State: StateHeld, Epoch: 3, Counter: 17, TTL: 90 * time.Second,
		Acquired: time.UnixMilli(1795736400123), Renewed: time.UnixMilli(1795736460456),
		Device: "phone-a", MountID: "0123456789abcdef",
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []*record{sampleRecord(), {State: StateReleased, Epoch: 1, TTL: time.Millisecond}} {
		b := r.encode()
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", r, err)
		}
		if !bytes.Equal(got.encode(), b) || got.Device != r.Device || !got.Renewed.Equal(r.Renewed) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
	}
}

// TestRecordLayout pins the documented byte layout (docs/FORMAT.md "Lease").
func TestRecordLayout(t *testing.T) {
	r := &record{State: StateReleased, Epoch: 2, Counter: 5, TTL: time.Minute,
		Acquired: time.UnixMilli(1000), Renewed: time.UnixMilli(2000), Device: "ab", MountID: "c"}
	want := []byte{
		1, 2, // version, state released
		0, 0, 0, 0, 0, 0, 0, 2, // epoch
		0, 0, 0, 0, 0, 0, 0, 5, // counter
		0, 0, 0, 0, 0, 0, 0xea, 0x60, // ttl 60000 ms
		0, 0, 0, 0, 0, 0, 0x03, 0xe8, // acquired 1000 ms
		0, 0, 0, 0, 0, 0, 0x07, 0xd0, // renewed 2000 ms
		0, 2, 'a', 'b', 0, 1, 'c', // device, mount id
	}
	if got := r.encode(); !bytes.Equal(got, want) {
		t.Errorf("encode = % x\nwant     % x", got, want)
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good := sampleRecord().encode()
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":              nil,
		"truncated to fixed": good[:recordFixedSize-1],
		"truncated string":   good[:len(good)-1],
		"trailing byte":      append(bytes.Clone(good), 0),
		"version 2":          edit(func(b []byte) []byte { b[0] = 2; return b }),
		"state 0":            edit(func(b []byte) []byte { b[1] = 0; return b }),
		"state 3":            edit(func(b []byte) []byte { b[1] = 3; return b }),
		"ttl 0":              edit(func(b []byte) []byte { copy(b[18:26], make([]byte, 8)); return b }),
		"ttl huge":           edit(func(b []byte) []byte { b[18] = 0x7f; return b }),
		"device too long":    append(append(bytes.Clone(good[:42]), 0x04, 0x01), make([]byte, 1025+2)...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := decodeRecord(b)
			if r != nil || !errors.Is(err, errFormat) {
				t.Errorf("decodeRecord = %+v, %v; want nil, errFormat", r, err)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(sampleRecord().encode())
	f.Add((&record{State: StateReleased, Epoch: 1, TTL: time.Second}).encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if r != nil {
				t.Fatal("non-nil record with an error")
			}
			return
		}
		if !bytes.Equal(r.encode(), b) {
			t.Fatalf("accepted input does not re-encode identically")
		}
		_ = (&HeldError{Device: r.Device, Since: r.Acquired}).Error()
		if strings.Contains(Info{State: r.State, Device: r.Device}.String(), "state(") {
			t.Fatal("decoded an unknown state")
		}
	})
}
