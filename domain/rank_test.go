package domain

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkBetween fails unless r is a valid rank strictly between the bounds.
func checkBetween(t *testing.T, r, before, after string) {
	t.Helper()
	if !ValidRank(r) {
		t.Fatalf("RankBetween(%q, %q) = %q, not a valid rank", before, after, r)
	}
	if !rankWithin(r, before, after) {
		t.Fatalf("RankBetween(%q, %q) = %q, not strictly between", before, after, r)
	}
}

func TestRankBetween(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ before, after, want string }{
		{"", "", "V"},
		// Between two ranks: the midpoint.
		{"A", "B", "AV"},
		{"A", "AV", "AG"},
		{"A1", "B", "AW"},
		{"0V", "1", "0l"},
		{"az", "b", "azV"},
		{"a", "a0001", "a0000V"},
		// At the end: one digit up, as short as possible.
		{"V", "", "W"},
		{"00001V", "", "1"},
		{"zzy5", "", "zzz"},
		{"z", "", "z1"},
		{"zz", "", "zz1"},
		// At the start: one digit down, as short as possible.
		{"", "V", "U"},
		{"", "00001V", "00001"},
		{"", "00001", "00000z"},
		{"", "1", "0z"},
		{"", "2", "1"},
		{"", "0z", "0y"},
	} {
		got, err := RankBetween(c.before, c.after)
		if err != nil {
			t.Fatalf("RankBetween(%q, %q): %v", c.before, c.after, err)
		}
		if got != c.want {
			t.Errorf("RankBetween(%q, %q) = %q, want %q", c.before, c.after, got, c.want)
		}
		checkBetween(t, got, c.before, c.after)
	}
}

func TestRankBetweenRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ before, after string }{
		{"B", "A"},                              // wrong order
		{"A", "A"},                              // equal
		{"A0", ""},                              // trailing zero
		{"", "a-b"},                             // not a base-62 digit
		{"é", ""},                               // not ASCII
		{"", "V "},                              // space
		{strings.Repeat("V", MaxRankLen+1), ""}, // too long
	} {
		_, err := RankBetween(c.before, c.after)
		mustCode(t, err, CodeInvalidInput)
	}
	// Two neighbours that leave no room within MaxRankLen.
	before := "V" + strings.Repeat("0", MaxRankLen-2) + "1"
	after := "V" + strings.Repeat("0", MaxRankLen-2) + "2"
	_, err := RankBetween(before, after)
	mustCode(t, err, CodePreconditionFailed)
}

// TestRankRepeatedInserts inserts at the same spot over and over, the worst
// case for rank length: each new item goes right next to the previous one,
// squeezed against a fixed neighbour (or the start or end of the list).
func TestRankRepeatedInserts(t *testing.T) {
	t.Parallel()
	const n = 2000
	for _, c := range []struct {
		name     string
		lo, hi   string // fixed bounds, "" for the list's ends
		towardLo bool   // insert between lo and the previous item
	}{
		{"always first", "", "", true},
		{"always last", "", "", false},
		{"right after a fixed item", "V", "", true},
		{"right before a fixed item", "", "W", false},
		{"after the first of two tasks", rankForNumber(1), rankForNumber(2), true},
		{"before the second of two tasks", rankForNumber(1), rankForNumber(2), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			prev, err := RankBetween(c.lo, c.hi)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				before, after := prev, c.hi
				if c.towardLo {
					before, after = c.lo, prev
				}
				r, err := RankBetween(before, after)
				if err != nil {
					t.Fatalf("insert %d between %q and %q: %v", i, before, after, err)
				}
				checkBetween(t, r, before, after)
				prev = r
			}
			// At worst one character per five inserts.
			if len(prev) > n/4 {
				t.Fatalf("ranks grow too fast: %d characters after %d inserts", len(prev), n)
			}
		})
	}
}

// TestRankAppendsStayShort moves items to the end of a list, the most
// common move on a board, many times.
func TestRankAppendsStayShort(t *testing.T) {
	t.Parallel()
	last, first := rankForNumber(1), rankForNumber(1)
	for i := range 20000 {
		next, err := RankBetween(last, "")
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		checkBetween(t, next, last, "")
		last = next
		if next, err = RankBetween("", first); err != nil {
			t.Fatalf("prepend %d: %v", i, err)
		}
		checkBetween(t, next, "", first)
		first = next
	}
	if len(last) > 400 || len(first) > 400 {
		t.Fatalf("ranks too long after 20000 moves: %d and %d characters", len(last), len(first))
	}
}

// TestRankRandomInserts keeps a list ordered through random inserts.
func TestRankRandomInserts(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var list []string
	for i := range 3000 {
		pos := rng.IntN(len(list) + 1)
		var before, after string
		if pos > 0 {
			before = list[pos-1]
		}
		if pos < len(list) {
			after = list[pos]
		}
		r, err := RankBetween(before, after)
		if err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
		checkBetween(t, r, before, after)
		list = slices.Insert(list, pos, r)
	}
	if !slices.IsSorted(list) {
		t.Fatal("list is not sorted")
	}
	if len(slices.Compact(slices.Clone(list))) != len(list) {
		t.Fatal("duplicate ranks")
	}
}

func TestRankForNumber(t *testing.T) {
	t.Parallel()
	prev := ""
	for _, n := range []int64{1, 2, 9, 10, 61, 62, 63, 3843, 3844, 1 << 20, 1 << 32, MaxTaskNumber - 1, MaxTaskNumber} {
		r := rankForNumber(n)
		if !ValidRank(r) || r <= prev {
			t.Fatalf("rankForNumber(%d) = %q, after %q", n, r, prev)
		}
		prev = r
	}
	if _, err := RankBetween("", rankForNumber(1)); err != nil {
		t.Fatalf("no room before the first task: %v", err)
	}
}
