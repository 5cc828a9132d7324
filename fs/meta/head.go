package meta

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/layout"
	"github.com/sealfs/sealfs/remote"
)

// Head versions: the first byte of the head payload. Writers write
// headVersion; format-1 vaults hold version 1.
const (
	headVersion1 = 1
	headVersion2 = 2
	headVersion  = headVersion2
)

// Inline journal batches (head version 2): a commit whose batch is small
// carries it in the head itself, so that it costs one PUT (the head's)
// instead of two. Batches past these limits are objects, as in version 1.
const (
	maxInlineBatch = 16 << 10 // sealed bytes of one inline batch
	maxInlineTotal = 48 << 10 // sealed bytes of all inline batches of a head
)

// minJournalBytes is the journal size below which a commit never writes a
// checkpoint for size reasons: with a small tree, a journal larger than
// its checkpoint is still cheap to load, and checkpoints cost a PUT.
const minJournalBytes = maxInlineTotal

// Head describes the commit head names.
type Head struct {
	Seq     uint64    // commit sequence number, +1 per commit
	Time    time.Time // when it was committed (writer's clock)
	Device  string    // writer's device name
	MountID string    // writer's mount instance
	// Snapshot is the store key of the snapshot the head builds on, and
	// Batches the number of journal batches applied on top of it.
	Snapshot string
	Batches  int
}

// SameCommit reports whether h and o name the same commit: the same
// number by the same mount at the same time. Two heads with one number
// but another writer or time are a fork (a rolled-back bucket written
// again, or a bucket serving two copies).
func (h Head) SameCommit(o Head) bool {
	return h.Seq == o.Seq && h.MountID == o.MountID && h.Device == o.Device && h.Time.Equal(o.Time)
}

// ref names one sealed metadata object: the commit seq it was sealed with,
// its key and the SHA-256 of its sealed bytes. An inline journal batch
// (head version 2) has no key: its sealed bytes are in the head (inline).
type ref struct {
	seq    uint64
	key    string
	hash   [32]byte
	inline string
}

// headRecord is the payload of the head object. Version 1:
//
//	version(1) || uvarint seq || varint time (Unix ns) || string device ||
//	string mount id || uvarint next inode || snapshot ref ||
//	uvarint n || n journal refs
//
// where a ref is uvarint seq || string key || SHA-256(32). Version 2 adds
// the parameters the tree is written with after the next inode, and each
// journal entry starts with its form:
//
//	... || uvarint next inode || suite(1) || uvarint chunk size ||
//	snapshot ref || uvarint n || n × (form(1) || entry)
//
// form 0: a ref as above; form 1: an inline batch, uvarint seq || string
// sealed batch (its hash, for the chain, is the SHA-256 of those bytes).
type headRecord struct {
	version  byte // 0 = headVersion
	seq      uint64
	time     int64
	device   string
	mountID  string
	nextIno  Ino
	suite    crypt.Suite // version 2
	chunk    uint64      // version 2
	snapshot ref
	journal  []ref
}

func (h *headRecord) ver() byte {
	if h.version == 0 {
		return headVersion
	}
	return h.version
}

// inlineBytes is the size of the head's inline batches.
func (h *headRecord) inlineBytes() int { return inlineBytes(h.journal) }

// inlineBytes is the size of the inline batches among refs.
func inlineBytes(refs []ref) int {
	n := 0
	for _, r := range refs {
		n += len(r.inline)
	}
	return n
}

func (h *headRecord) public() Head {
	return Head{
		Seq: h.seq, Time: time.Unix(0, h.time), Device: h.device, MountID: h.mountID,
		Snapshot: h.snapshot.key, Batches: len(h.journal),
	}
}

func encodeHead(h *headRecord) []byte {
	v := h.ver()
	b := []byte{v}
	b = appendUvarints(b, h.seq)
	b = appendVarint(b, h.time)
	b = appendString(b, h.device)
	b = appendString(b, h.mountID)
	b = appendUvarints(b, uint64(h.nextIno))
	if v >= headVersion2 {
		b = append(b, byte(h.suite))
		b = appendUvarints(b, h.chunk)
	}
	b = appendRef(b, h.snapshot)
	b = appendUvarints(b, uint64(len(h.journal)))
	for _, r := range h.journal {
		switch {
		case v < headVersion2:
			if r.inline != "" {
				panic("meta: internal error: inline batch in a version-1 head")
			}
		case r.inline != "":
			b = append(b, 1)
			b = appendUvarints(b, r.seq)
			b = appendString(b, r.inline)
			continue
		default:
			b = append(b, 0)
		}
		b = appendRef(b, r)
	}
	return b
}

func appendRef(b []byte, r ref) []byte {
	b = appendUvarints(b, r.seq)
	b = appendString(b, r.key)
	return append(b, r.hash[:]...)
}

// maxHeadString bounds device names and mount ids.
const maxHeadString = 1024

// decodeHead parses a head payload strictly, including the order of the
// chain: snapshot seq < journal seqs (increasing) <= head seq, keys named
// after their seq and kind.
func decodeHead(data []byte) (*headRecord, error) {
	r := newReader(data)
	v := r.Byte()
	if v != headVersion1 && v != headVersion2 && r.Err() == nil {
		return nil, corrupt("head version %d", v)
	}
	h := &headRecord{version: v, seq: r.Uvarint(), time: r.Varint()}
	h.device, h.mountID = r.String(maxHeadString), r.String(maxHeadString)
	h.nextIno = Ino(r.Uvarint())
	if v >= headVersion2 {
		h.suite, h.chunk = crypt.Suite(r.Byte()), r.Uvarint()
	}
	h.snapshot = r.ref(layout.SnapshotExt)
	n := r.Count(3)
	for range n {
		if r.Err() != nil {
			break
		}
		form := byte(0)
		if v >= headVersion2 {
			form = r.Byte()
		}
		switch form {
		case 0:
			h.journal = append(h.journal, r.ref(layout.JournalExt))
		case 1:
			x := ref{seq: r.Uvarint(), inline: r.String(maxInlineBatch)}
			if r.Err() == nil && x.inline == "" {
				r.Fail("empty inline batch")
			}
			x.hash = hashOf([]byte(x.inline))
			h.journal = append(h.journal, x)
		default:
			r.Fail("journal entry form %d", form)
		}
	}
	if err := r.Finish(); err != nil {
		return nil, err
	}
	if h.inlineBytes() > maxInlineTotal {
		return nil, corrupt("head: %d bytes of inline batches", h.inlineBytes())
	}
	last := h.snapshot.seq
	for _, j := range h.journal {
		if j.seq <= last {
			return nil, corrupt("head: journal seq %d after %d", j.seq, last)
		}
		last = j.seq
	}
	if last > h.seq || h.nextIno <= RootIno {
		return nil, corrupt("head: seq %d, chain up to %d, next inode %d", h.seq, last, h.nextIno)
	}
	return h, nil
}

func (r *reader) ref(ext string) ref {
	var x ref
	x.seq = r.Uvarint()
	x.key = r.String(64)
	copy(x.hash[:], r.Bytes(32))
	if r.Err() == nil {
		if seq, e, ok := layout.ParseMetaKey(x.key); !ok || seq != x.seq || e != ext {
			r.Fail("bad object key")
		}
	}
	return x
}

// readHead gets and opens the head object. A head that does not
// authenticate, or authenticates but does not parse, wraps crypt.ErrAuth.
func readHead(ctx context.Context, s remote.Store, k *crypt.Keys) (*headRecord, []byte, remote.ObjectInfo, error) {
	sealed, info, err := s.Get(ctx, layout.Head)
	if err != nil {
		return nil, nil, info, fmt.Errorf("meta: read %s: %w", layout.Head, err)
	}
	h, err := openHead(k, sealed)
	return h, sealed, info, err
}

func openHead(k *crypt.Keys, sealed []byte) (*headRecord, error) {
	seq, err := crypt.RecordSeq(sealed)
	if err != nil { // truncated or garbled: as much tampering as a bad tag
		return nil, fmt.Errorf("meta: open %s: %w: %w", layout.Head, crypt.ErrAuth, err)
	}
	payload, err := crypt.OpenRecord(k.Meta, crypt.KindHead, seq, sealed)
	if err != nil {
		return nil, fmt.Errorf("meta: open %s: %w", layout.Head, err)
	}
	h, err := decodeHead(payload)
	if err == nil && h.seq != seq {
		err = corrupt("head seq %d sealed as %d", h.seq, seq)
	}
	if err == nil {
		err = checkParams(k, "head", h.ver() >= headVersion2, h.suite, h.chunk)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: open %s: %w: %w", layout.Head, crypt.ErrAuth, err)
	}
	return h, nil
}

// ReadHead reads and opens the current head without loading the tree (for
// info and read-only followers polling for changes).
func ReadHead(ctx context.Context, s remote.Store, k *crypt.Keys) (Head, error) {
	h, _, _, err := readHead(ctx, s, k)
	if err != nil {
		return Head{}, err
	}
	return h.public(), nil
}

// checkParams refuses a head or checkpoint written with another cipher
// suite or chunk size than the vault's (format 2 names them; format 1
// objects have only the vault's word for them).
func checkParams(k *crypt.Keys, what string, named bool, suite crypt.Suite, chunk uint64) error {
	if named && (suite != k.Suite || chunk != uint64(k.ChunkSize)) {
		return corrupt("%s written with suite %d and chunk size %d, but the vault names suite %d and chunk size %d", what, suite, chunk, k.Suite, k.ChunkSize)
	}
	return nil
}

func hashOf(b []byte) [32]byte { return sha256.Sum256(b) }

// metaKey returns a fresh key for a metadata object of commit seq.
func metaKey(rnd io.Reader, seq uint64, ext string) (string, error) {
	var b [4]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("meta: random key: %w", err)
	}
	return layout.MetaKey(seq, b, ext), nil
}
