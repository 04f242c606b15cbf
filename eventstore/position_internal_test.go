package eventstore

import (
	"errors"
	"testing"
)

// FuzzParsePosition: ParsePosition never panics, refuses with ErrInvalidPosition, accepts only
// non-negative positions, and what it accepts is exactly what String prints.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"1.2", "0.0", "18446744073709551615.9223372036854775807", "18446744073709551616.1",
		"1.-1", "-1.1", "+1.2", "1.+2", "01.2", "1.02", ".", "1", "1/2", "a.b", "1.2.3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePosition(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPosition) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if p.Position < 0 {
			t.Fatalf("%q: negative position %d", s, p.Position)
		}
		if p.String() != s {
			t.Fatalf("%q → %v prints %q: a second spelling", s, p, p.String())
		}
		if again, err := ParsePosition(p.String()); err != nil || again != p {
			t.Fatalf("%q → %v → %v, %v", s, p, again, err)
		}
	})
}
