package vault

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/sealfs/sealfs/crypt"
	"github.com/sealfs/sealfs/fs/meta"
	"github.com/sealfs/sealfs/remote"
)

// TestTailPadding: the bucket does not show exact file sizes. Sixty-four
// small files of distinct sizes are stored in objects of only a few
// distinct sizes (the plaintext is zero-padded to its Padmé size inside
// the seal), and every file still reads back with its exact size and bytes.
func TestTailPadding(t *testing.T) {
	v := newVault(t, remote.NewMemory(), testChunk)
	w := v.open(t)
	want := map[string][]byte{}
	for i := range 64 {
		name := fmt.Sprintf("voice-%02d.opus", i)
		want[name] = pattern(byte(i+1), 40000+i*97)
		ok(t, w.writeFile(name, want[name]))
	}
	w.close(t)

	sizes := map[int64]int{}
	err := v.store.List(context.Background(), "data/", func(o remote.ObjectInfo) error {
		sizes[o.Size]++
		return nil
	})
	ok(t, err)
	var n int
	for _, c := range sizes {
		n += c
	}
	if n != len(want) {
		t.Fatalf("%d data objects for %d files", n, len(want))
	}
	if len(sizes) > 4 {
		t.Errorf("64 files of distinct sizes are stored in objects of %d distinct sizes: the bucket shows file sizes", len(sizes))
	}

	r := v.readOnly(t)
	for name, data := range want {
		got, err := r.readFile(name)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
		in, err := r.lookupPath(name)
		if err != nil || in.Size != uint64(len(data)) {
			t.Errorf("%s: size %v, %v; want %d", name, in.Size, err, len(data))
		}
	}
	if strings.Contains(fmt.Sprint(sizes), "40000") {
		t.Errorf("an object has a file's exact size: %v", sizes)
	}
}

// TestPacksArePadded: no data object is larger than a chunk, and every
// one is padded by the rule of docs/FORMAT.md ("Tail padding"):
// min(Padmé(n), chunk) bytes of plaintext for n bytes of content, a pack
// of small files like a file's short last chunk. The sizes are chosen so
// that filling packs until they reach a chunk crosses it (each version is
// close to the largest packed size, a sixteenth of a chunk), and packs
// leave only when full (the linger is an hour). Before the fix such a
// pack was sealed at its exact size past the chunk (its size leaked
// exactly), and with 64 MiB chunks it was over crypt.MaxObjectSize and
// could not be sealed at all.
func TestPacksArePadded(t *testing.T) {
	t.Run("files", func(t *testing.T) {
		v := newVault(t, remote.NewMemory(), testChunk)
		w := v.open(t, lingerAnHour, func(o *Options) { o.CommitInterval = time.Hour })
		files := map[string][]byte{}
		for i := range 40 {
			files[fmt.Sprintf("m%02d", i)] = pattern(byte(i+1), testChunk/16-i*97)
		}
		files["whole"] = pattern(99, testChunk+testChunk/3) // a full chunk and a short one
		writeFiles(t, w.Vault, files)
		w.close(t)
		ro := v.readOnly(t)
		var exts []meta.Extent
		for name := range files {
			in, err := ro.lookupPath(name)
			ok(t, err)
			exts = append(exts, in.Extents...)
		}
		wantPadded(t, v.store, testChunk, exts)
		wantFiles(t, ro.Vault, files)
	})
	// The largest chunk a vault may have, fed to the uploader directly:
	// through a mount this costs a minute under -race.
	t.Run("chunk=64MiB", func(t *testing.T) {
		const chunk = crypt.MaxObjectSize
		v := newVault(t, remote.NewMemory(), chunk)
		fsys, err := Open(context.Background(), Options{Store: v.store, Keys: v.keys, Tuning: Tuning{PackLinger: time.Hour}})
		ok(t, err)
		defer fsys.Close(context.Background())
		var vs []*version
		for i := range 18 {
			vs = append(vs, &version{data: chunkBufOf(fsys.piece, fsys.cs, bytes.Repeat([]byte{byte(i + 1)}, chunk/16-i*97))})
			vs[i].mu.Lock()
			fsys.up.start(vs[i])
			vs[i].mu.Unlock()
		}
		fsys.up.pack.flush()
		var exts []meta.Extent
		for i, v := range vs {
			<-v.done
			if v.err != nil {
				t.Fatalf("version %d: %v", i, v.err)
			}
			exts = append(exts, v.ext)
		}
		wantPadded(t, v.store, chunk, exts)
	})
}

// wantPadded checks that exts name exactly the data objects in store and
// that each object is at most a chunk and padded by the rule.
func wantPadded(t *testing.T, store remote.Store, chunk int64, exts []meta.Extent) {
	t.Helper()
	type object struct{ size, content int64 }
	objs := map[crypt.ObjectID]*object{}
	for _, e := range exts {
		if e.IsHole() {
			continue
		}
		o := objs[e.Object]
		if o == nil {
			o = &object{size: int64(e.ObjectSize)}
			objs[e.Object] = o
		}
		if o.size != int64(e.ObjectSize) {
			t.Errorf("extents of object %s name sizes %d and %d", e.Object, o.size, e.ObjectSize)
		}
		o.content += int64(e.Length)
	}
	err := store.List(context.Background(), "data/", func(info remote.ObjectInfo) error {
		id, err := crypt.ParseObjectID(path.Base(info.Key))
		ok(t, err)
		o := objs[id]
		if o == nil {
			t.Errorf("%s: no extent names it", info.Key)
			return nil
		}
		plain, err := crypt.ObjectPlainSize(info.Size)
		ok(t, err)
		want := min(crypt.PaddedSize(o.content), chunk)
		if o.content > chunk || plain != want || o.size != plain {
			t.Errorf("%s: %d bytes of content sealed as %d bytes (extents say %d); want at most a chunk (%d), padded to %d",
				info.Key, o.content, plain, o.size, chunk, want)
		}
		delete(objs, id)
		return nil
	})
	ok(t, err)
	if len(objs) > 0 {
		t.Errorf("%d objects the extents name are not in the store", len(objs))
	}
}
