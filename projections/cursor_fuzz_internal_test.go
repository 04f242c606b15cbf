package projections

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// FuzzTimeCursor: a client's time cursor decodes or is refused (never panics), and a decoded one
// prints back to the same position.
func FuzzTimeCursor(f *testing.F) {
	f.Add(encodeTimeCursor(time.Date(2026, 12, 24, 9, 30, 0, 5, time.UTC), uuid.MustParse("00000000-0000-4000-8000-000000000001")))
	for _, s := range []string{"", "!!", "MjAyNi0xMy00NXx4", "fA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, id, err := decodeTimeCursor(s)
		if err != nil {
			return
		}
		at2, id2, err := decodeTimeCursor(encodeTimeCursor(at, id))
		if err != nil || !at2.Equal(at) || id2 != id {
			t.Fatalf("%q → %v %v → %v %v, %v", s, at, id, at2, id2, err)
		}
	})
}
