package domain

import "strings"

// Ranks order tasks on a board without renumbering their neighbours: a rank is
// a string of base-62 digits read as a fraction (0.d1d2d3…), compared byte-wise,
// so there is always room between two ranks. A rank never ends in the zero
// digit, which guarantees room before it as well.
//
// Between two ranks this is the "fractional indexing" midpoint (see David
// Greenspan's article "Implementing Fractional Indexing"): inserting over and
// over at the same spot between two items grows ranks by about one character
// every five or six inserts. At either end of the list a rank steps by one
// digit instead, which grows ten times slower. MaxRankLen bounds the growth,
// after which the command must rebalance the list.

const rankDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// MaxRankLen is the longest rank accepted or produced.
const MaxRankLen = 1024

// taskNumberRankWidth is the number of base-62 digits used by rankForNumber;
// 62^6 ≈ 5.7e10 tasks per project.
const taskNumberRankWidth = 6

// MaxTaskNumber is the highest task number a project hands out.
const MaxTaskNumber int64 = 62*62*62*62*62*62 - 1

// RankBetween returns a rank that sorts strictly between before and after.
// An empty before means "at the start", an empty after means "at the end".
func RankBetween(before, after string) (string, error) {
	if err := checkRankBounds(before, after); err != nil {
		return "", err
	}
	var r string
	switch {
	case before != "" && after == "":
		r = rankAfter(before)
	case before == "" && after != "":
		r = rankBefore(after)
	default:
		r = midpoint(before, after)
	}
	if len(r) > MaxRankLen {
		return "", PreconditionFailed("no room left between these ranks; the list needs rebalancing")
	}
	return r, nil
}

func checkRankBounds(before, after string) error {
	if before != "" {
		if err := checkRank("before", before); err != nil {
			return err
		}
	}
	if after != "" {
		if err := checkRank("after", after); err != nil {
			return err
		}
	}
	if before != "" && after != "" && before >= after {
		return InvalidInput("after", "must sort strictly after before")
	}
	return nil
}

// rankWithin reports whether rank sorts strictly between the bounds (an
// empty bound is open).
func rankWithin(rank, before, after string) bool {
	return (before == "" || before < rank) && (after == "" || rank < after)
}

// ValidRank reports whether s is a well-formed rank.
func ValidRank(s string) bool { return checkRank("rank", s) == nil }

func checkRank(field, s string) error {
	if s == "" || len(s) > MaxRankLen {
		return InvalidInput(field, "is not a valid rank")
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(rankDigits, s[i]) < 0 {
			return InvalidInput(field, "is not a valid rank")
		}
	}
	if s[len(s)-1] == rankDigits[0] {
		return InvalidInput(field, "is not a valid rank")
	}
	return nil
}

// midpoint assumes a < b, both valid or empty; b == "" is the upper bound 1.0
// and a == "" the lower bound 0.
func midpoint(a, b string) string {
	if b != "" {
		// Drop the common prefix, reading a as padded with zero digits.
		n := 0
		for n < len(b) && digitAt(a, n) == b[n] {
			n++
		}
		if n > 0 {
			return b[:n] + midpoint(suffix(a, n), b[n:])
		}
	}
	da := 0
	if a != "" {
		da = strings.IndexByte(rankDigits, a[0])
	}
	db := len(rankDigits)
	if b != "" {
		db = strings.IndexByte(rankDigits, b[0])
	}
	if db-da > 1 {
		return string(rankDigits[(da+db+1)/2])
	}
	// The first digits are consecutive.
	if len(b) > 1 {
		return b[:1]
	}
	return string(rankDigits[da]) + midpoint(suffix(a, 1), "")
}

// rankAfter returns a short rank after r, stepping one digit rather than
// halving the gap to the end: moving items to the end of a list, over and
// over, then grows ranks by one character per ~60 moves instead of ~5.
func rankAfter(r string) string {
	const top = len(rankDigits) - 1
	for i := 0; i < len(r); i++ {
		if d := strings.IndexByte(rankDigits, r[i]); d < top {
			return r[:i] + string(rankDigits[d+1])
		}
	}
	return r + string(rankDigits[1]) // r is all top digits
}

// rankBefore is rankAfter's mirror image, for moving items to the start.
func rankBefore(r string) string {
	i := 0
	for r[i] == rankDigits[0] { // valid ranks do not end in the zero digit
		i++
	}
	d := strings.IndexByte(rankDigits, r[i])
	switch {
	case d >= 2:
		return r[:i] + string(rankDigits[d-1])
	case i < len(r)-1:
		return r[:i+1] // a proper prefix sorts first
	default:
		return r[:i] + string(rankDigits[0]) + string(rankDigits[len(rankDigits)-1])
	}
}

func digitAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return rankDigits[0]
}

func suffix(s string, n int) string {
	if n >= len(s) {
		return ""
	}
	return s[n:]
}

// rankForNumber gives a new task a unique initial rank that follows its
// number, so tasks appear in creation order until someone reorders them.
func rankForNumber(n int64) string {
	var b [taskNumberRankWidth + 1]byte
	for i := taskNumberRankWidth - 1; i >= 0; i-- {
		b[i] = rankDigits[n%62]
		n /= 62
	}
	// A non-zero final digit keeps the rank valid (no trailing zero).
	b[taskNumberRankWidth] = rankDigits[len(rankDigits)/2]
	return string(b[:])
}
