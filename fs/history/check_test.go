package history

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sealfs/sealfs/remote"
	"github.com/sealfs/sealfs/remote/s3test"
)

func TestCheckMemory(t *testing.T) {
	testCheck(t, func(testing.TB) remote.Store { return remote.NewMemory() })
}

func TestCheckS3(t *testing.T) {
	testCheck(t, func(tb testing.TB) remote.Store { return s3test.NewStore(tb) })
}

func testCheck(t *testing.T, newStore func(testing.TB) remote.Store) {
	ctx := context.Background()
	t.Run("clean", func(t *testing.T) {
		h := newHistory3(t, newStore(t))
		res, err := Check(ctx, h.s, h.c, CheckOptions{ReadData: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Damaged() || res.Snapshots != 3 || res.Objects != 9 {
			t.Fatalf("clean vault: damage %v, %d snapshots, %d objects (want 0, 3, 9)", res.Damage, res.Snapshots, res.Objects)
		}
		// Journal batches the later snapshots replaced are garbage, not damage.
		if len(res.Unreferenced) == 0 {
			t.Fatal("no unreferenced objects reported; the replaced journal batches are")
		}
	})
	// name, damage to do, then what check must say: the path, the trees,
	// and whether only --read-data finds it.
	cases := []struct {
		name     string
		damage   func(h *history3) string
		path     string
		trees    func(h *history3) []string
		readOnly bool
		problem  string
	}{
		{
			name:   "flipped byte in a shared object",
			damage: func(h *history3) string { flip(t, h.s, h.photo[0], 40); return h.photo[0] },
			path:   "/photo.jpg", readOnly: true, problem: "authenticate",
			trees: func(h *history3) []string {
				return []string{HeadLabel, h.snaps[0].ID, h.snaps[1].ID, h.snaps[2].ID}
			},
		},
		{
			name:   "object of an old version deleted",
			damage: func(h *history3) string { h.s.Delete(ctx, h.chat[0][1]); return h.chat[0][1] },
			path:   "/chat.db", problem: "missing",
			trees: func(h *history3) []string { return []string{h.snaps[0].ID} },
		},
		{
			name: "current object truncated",
			damage: func(h *history3) string {
				b, _, _ := h.s.Get(ctx, h.chat[3][0])
				h.s.Put(ctx, h.chat[3][0], b[:len(b)-16], remote.PutOptions{})
				return h.chat[3][0]
			},
			path: "/chat.db", problem: "size",
			trees: func(h *history3) []string { return []string{HeadLabel} },
		},
		{
			name: "object swapped for another",
			damage: func(h *history3) string {
				b, _, _ := h.s.Get(ctx, h.chat[2][0])
				h.s.Put(ctx, h.chat[1][0], b, remote.PutOptions{})
				return h.chat[1][0]
			},
			path: "/chat.db", readOnly: true, problem: "authenticate",
			trees: func(h *history3) []string { return []string{h.snaps[1].ID} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistory3(t, newStore(t))
			key := tc.damage(h)
			res, err := Check(ctx, h.s, h.c, CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.readOnly {
				if res.Damaged() {
					t.Fatalf("check without --read-data found %v; sizes are intact", res.Damage)
				}
				if res, err = Check(ctx, h.s, h.c, CheckOptions{ReadData: true}); err != nil {
					t.Fatal(err)
				}
			}
			if len(res.Damage) != 1 {
				t.Fatalf("damage = %v, want exactly one file", res.Damage)
			}
			d := res.Damage[0]
			want := tc.trees(h)
			slices.Sort(want)
			got := slices.Sorted(slices.Values(d.Snapshots))
			if d.Path != tc.path || d.Object != key || !slices.Equal(got, want) || !strings.Contains(d.Problem, tc.problem) {
				t.Fatalf("damage = %+v\nwant path %s, object %s, trees %v, problem %q", d, tc.path, key, want, tc.problem)
			}
		})
	}
	t.Run("metadata", func(t *testing.T) {
		h := newHistory3(t, newStore(t))
		h.s.Delete(ctx, h.snaps[1].Tree.Key)
		flip(t, h.s, h.snaps[2].Key, 50)
		flip(t, h.s, "head", 50)
		res, err := Check(ctx, h.s, h.c, CheckOptions{ReadData: true})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, d := range res.Damage {
			lines = append(lines, d.String())
		}
		all := strings.Join(lines, "\n")
		for _, want := range []string{"snapshot " + HeadLabel + ")", "snapshot " + h.snaps[1].ID + ")", h.snaps[2].Key} {
			if !strings.Contains(all, want) {
				t.Errorf("damage report lacks %q:\n%s", want, all)
			}
		}
		if len(res.Damage) != 3 {
			t.Fatalf("want 3 damaged metadata items, got:\n%s", all)
		}
	})
}
