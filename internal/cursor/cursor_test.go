package cursor_test

import (
	"testing"
	"time"

	"github.com/taskforge/taskforge/internal/cursor"
)

// FuzzCursor: whatever a reader accepts prints back as it was read (one spelling per cursor),
// and a cursor of one kind is no cursor of another.
func FuzzCursor(f *testing.F) {
	at := time.Date(2026, 12, 24, 9, 30, 0, 123, time.UTC)
	f.Add(cursor.New(cursor.Comment).Time(at).UUID([16]byte{1, 2, 3}).Encode())
	f.Add(cursor.New(cursor.Comment).String("é").UUID([16]byte{}).Encode())
	f.Add("AWM")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := cursor.Open(s, cursor.Comment)
		if !ok {
			return
		}
		name, tm, id := r.String(), r.Time(), r.UUID()
		if !r.Done() {
			return
		}
		if again := cursor.New(cursor.Comment).String(name).Time(tm).UUID(id).Encode(); again != s {
			t.Fatalf("%q read back prints %q", s, again)
		}
		if _, ok := cursor.Open(s, cursor.Member); ok {
			t.Fatalf("%q: a comment cursor opened as a member's", s)
		}
	})
}

func TestRoundTrip(t *testing.T) {
	at := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	s := cursor.New(cursor.Activity).Int64(-5).Uint64(1<<63 + 1).Float32(0.25).Time(at).String("Ünïcode").Encode()
	r, ok := cursor.Open(s, cursor.Activity)
	if !ok {
		t.Fatal("not opened")
	}
	if r.Int64() != -5 || r.Uint64() != 1<<63+1 || r.Float32() != 0.25 || !r.Time().Equal(at) || r.String() != "Ünïcode" || !r.Done() {
		t.Fatal("fields differ")
	}
	for _, bad := range []string{s + "A", s[:len(s)-2], "AWE", "!!", s[:4] + "\n" + s[4:], s[:4] + "\r\n" + s[4:], s + "\n", cursor.New(cursor.Activity).String("a\x00").Encode(),
		cursor.New(cursor.Activity).String("\xff").Encode()} {
		r, ok := cursor.Open(bad, cursor.Activity)
		if ok {
			_, _, _, _, _ = r.Int64(), r.Uint64(), r.Float32(), r.Time(), r.String()
			if r.Done() {
				t.Fatalf("%q read", bad)
			}
		}
	}
}
