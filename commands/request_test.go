package commands_test

import (
	"testing"

	"github.com/taskforge/taskforge/commands"
)

// FuzzRequestID: whatever a client sends, the request id used is valid, and a valid one is kept.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"req-42", "", " ", "a b", "caf\u00e9", "\x00", "0123456789abcdef0123456789abcdef"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := commands.RequestID(s)
		if !commands.ValidRequestID(got) {
			t.Fatalf("RequestID(%q) = %q, not valid", s, got)
		}
		if commands.ValidRequestID(s) != (got == s) {
			t.Fatalf("RequestID(%q) = %q: a valid id is kept, any other replaced", s, got)
		}
		if got == s && (len(s) > commands.MaxRequestIDLen || len(s) == 0) {
			t.Fatalf("%q kept", s)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] > '~' {
				t.Fatalf("%q: byte %d is not printable ASCII", got, i)
			}
		}
	})
}
