// Package cursor is the one format of the API's page cursors: the unpadded base64url of a version
// byte, a kind byte naming the list the cursor belongs to, and the key fields of the item it
// names, in binary. Clients get an opaque string (Relay: a cursor is opaque), never a readable
// position; a cursor of one list is refused by another (its kind), and each cursor has one
// spelling (strict base64, canonical fields), so a parser can check what it read by printing it
// again. The kinds are all declared here, so that no two lists share one by accident.
package cursor

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the format's version, the first byte of every cursor.
const Version = 1

// The kinds of cursor: one per list.
const (
	TaskNumber    byte = 'n' // projections: tasks by number
	TaskUpdated   byte = 'u' // projections: tasks by last update
	TaskRelevance byte = 'r' // projections: tasks by search rank
	Activity      byte = 'a' // projections: a workspace's activity
	Notification  byte = 'i' // projections: an inbox
	Comment       byte = 'c' // projections: a task's comments
	Member        byte = 'm' // projections: a workspace's members
	Project       byte = 'p' // projections: a workspace's projects
	Workspace     byte = 'w' // projections: the caller's workspaces
	Delivery      byte = 'd' // sideeffects: a workspace's webhook deliveries
	DeadLetter    byte = 'x' // sideeffects: dead letters
)

var enc = base64.RawURLEncoding.Strict()

// Writer builds a cursor.
type Writer struct{ b []byte }

// New starts a cursor of kind.
func New(kind byte) *Writer { return &Writer{b: append(make([]byte, 0, 40), Version, kind)} }

// Int64 appends v.
func (w *Writer) Int64(v int64) *Writer { return w.Uint64(uint64(v)) }

// Uint64 appends v.
func (w *Writer) Uint64(v uint64) *Writer {
	w.b = binary.BigEndian.AppendUint64(w.b, v)
	return w
}

// Float32 appends v.
func (w *Writer) Float32(v float32) *Writer {
	w.b = binary.BigEndian.AppendUint32(w.b, math.Float32bits(v))
	return w
}

// Time appends t, to the nanosecond.
func (w *Writer) Time(t time.Time) *Writer {
	w.Int64(t.Unix())
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(t.Nanosecond()))
	return w
}

// UUID appends id.
func (w *Writer) UUID(id [16]byte) *Writer {
	w.b = append(w.b, id[:]...)
	return w
}

// String appends s, preceded by its length.
func (w *Writer) String(s string) *Writer {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
	return w
}

// Encode is the cursor.
func (w *Writer) Encode() string { return enc.EncodeToString(w.b) }

// Reader reads a cursor's fields in the order they were written; any misfit (a short cursor, a
// field out of its range) makes Done false.
type Reader struct {
	b   []byte
	bad bool
}

// Open decodes s as a cursor of kind; false for anything else. base64 skips \r and \n even when
// strict, so s must also be the one spelling Encode gives: a cursor is a key (the fuzzers found
// "AXgFZW1haWx\n0000000000A" read as a dead letter's cursor printed without the newline).
func Open(s string, kind byte) (*Reader, bool) {
	raw, err := enc.DecodeString(s)
	if err != nil || len(raw) < 2 || raw[0] != Version || raw[1] != kind || enc.EncodedLen(len(raw)) != len(s) {
		return nil, false
	}
	return &Reader{b: raw[2:]}, true
}

func (r *Reader) take(n int) []byte {
	if r.bad || len(r.b) < n {
		r.bad = true
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// Int64 reads what Writer.Int64 wrote.
func (r *Reader) Int64() int64 { return int64(r.Uint64()) }

// Uint64 reads what Writer.Uint64 wrote.
func (r *Reader) Uint64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

// Float32 reads what Writer.Float32 wrote: a finite number.
func (r *Reader) Float32() float32 {
	f := math.Float32frombits(binary.BigEndian.Uint32(r.take(4)))
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		r.bad = true
	}
	return f
}

// Time reads what Writer.Time wrote: an instant in UTC within years 1 to 9999.
func (r *Reader) Time() time.Time {
	sec := r.Int64()
	ns := binary.BigEndian.Uint32(r.take(4))
	if ns >= 1e9 || sec < minUnix || sec > maxUnix {
		r.bad = true
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

var (
	minUnix = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// UUID reads what Writer.UUID wrote.
func (r *Reader) UUID() [16]byte { return [16]byte(r.take(16)) }

// String reads what Writer.String wrote: valid UTF-8 without NUL (what a text column holds).
func (r *Reader) String() string {
	n, size := binary.Uvarint(r.b)
	if r.bad || size <= 0 || size != len(binary.AppendUvarint(nil, n)) || n > uint64(len(r.b)-size) {
		r.bad = true
		return ""
	}
	r.b = r.b[size:]
	s := string(r.take(int(n)))
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		r.bad = true
	}
	return s
}

// Done reports whether every field read fit and nothing is left over.
func (r *Reader) Done() bool { return r != nil && !r.bad && len(r.b) == 0 }
