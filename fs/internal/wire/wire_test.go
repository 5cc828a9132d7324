package wire

import (
	"errors"
	"strings"
	"testing"
)

type testErr struct{ msg string }

func (e *testErr) Error() string { return e.msg }

func newTest(b []byte) *Reader {
	return NewReader(b, func(msg string) error { return &testErr{msg} })
}

func TestReads(t *testing.T) {
	r := newTest([]byte{7, 0x81, 0x01, 0x03, 2, 'h', 'i', 0xAA})
	if b := r.Byte(); b != 7 {
		t.Fatalf("Byte = %d", b)
	}
	if v := r.Uvarint(); v != 129 {
		t.Fatalf("Uvarint = %d", v)
	}
	if v := r.Varint(); v != -2 {
		t.Fatalf("Varint = %d", v)
	}
	if s := r.String(10); s != "hi" {
		t.Fatalf("String = %q", s)
	}
	if err := r.Finish(); err == nil || !strings.Contains(err.Error(), "1 trailing bytes") {
		t.Fatalf("Finish with a byte left = %v", err)
	}
}

// TestRejects: every malformed input is refused with the caller's error
// type, naming the offset, and the first failure sticks.
func TestRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		read func(r *Reader)
		want string
	}{
		{"truncated", []byte{1}, func(r *Reader) { r.Bytes(2) }, "at byte 0: truncated"},
		{"negative length", []byte{1}, func(r *Reader) { r.Bytes(-1) }, "truncated"},
		{"non-minimal uvarint", []byte{0x80, 0x00}, func(r *Reader) { r.Uvarint() }, "bad uvarint"},
		{"non-minimal varint", []byte{0x80, 0x00}, func(r *Reader) { r.Varint() }, "bad varint"},
		{"unterminated uvarint", []byte{0x80}, func(r *Reader) { r.Uvarint() }, "bad uvarint"},
		{"u32 overflow", []byte{0x80, 0x80, 0x80, 0x80, 0x10}, func(r *Reader) { r.U32() }, "out of range"},
		{"forged count", []byte{100, 1, 2, 3}, func(r *Reader) { r.Count(1) }, "exceeds the input"},
		{"long string", []byte{5, 'a', 'b', 'c', 'd', 'e'}, func(r *Reader) { r.String(4) }, "string of 5 bytes"},
		{"sticky", []byte{0x80}, func(r *Reader) { r.Uvarint(); r.Fail("second") }, "bad uvarint"},
	} {
		r := newTest(c.in)
		c.read(r)
		var te *testErr
		if err := r.Err(); !errors.As(err, &te) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a *testErr with %q", c.name, err, c.want)
		}
		if r.Byte() != 0 || r.Uvarint() != 0 || r.String(10) != "" {
			t.Errorf("%s: a read after a failure returned data", c.name)
		}
	}
}
