package domain

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// decodeVariants are encodings of the same event that a decoder must read as encoding/json does:
// the encoded form, with whitespace, with keys in another case, with unknown fields, with nulls,
// with escaped characters, and broken forms (truncated, wrong types, trailing data).
func decodeVariants(enc []byte) [][]byte {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(enc, &m)
	out := [][]byte{enc, []byte(" \n" + string(enc) + "\t "), []byte(`{}`), []byte(`null`)}
	upper, unknown, nulls, escaped := map[string]json.RawMessage{}, map[string]json.RawMessage{}, map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for k, v := range m {
		upper[strings.ToUpper(k)] = v
		unknown[k], unknown["x_"+k] = v, json.RawMessage(`{"nested":[1,"two",null]}`)
		nulls[k] = json.RawMessage(`null`)
		if s := string(v); strings.HasPrefix(s, `"`) && len(s) > 2 {
			escaped[k] = json.RawMessage(`"\u00e9\n` + s[1:])
		} else {
			escaped[k] = v
		}
	}
	for _, v := range []map[string]json.RawMessage{upper, unknown, nulls, escaped} {
		b, _ := json.Marshal(v)
		out = append(out, b)
	}
	for k := range m { // each field with a value of every other JSON type
		for _, bad := range []string{`1`, `"s"`, `true`, `[1]`, `{"a":1}`, `-1.5e3`, `"2025-13-45T00:00:00Z"`} {
			broken := maps.Clone(m)
			broken[k] = json.RawMessage(bad)
			b, _ := json.Marshal(broken)
			out = append(out, b)
		}
	}
	for i := 0; i < len(enc); i += max(1, len(enc)/16) {
		out = append(out, enc[:i])
	}
	return append(out, append(bytes.Clone(enc), `{}`...), bytes.ReplaceAll(enc, []byte(`:`), []byte(`::`)))
}

// The registry decodes events with segmentio's encoding/json (3.3× faster on the rebuild log),
// which must decode exactly as encoding/json does: the same value, and an error where it errs.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	for _, e := range allEvents() {
		typ := reflect.TypeOf(e)
		for seed := range 3 {
			v := reflect.New(typ).Elem()
			if seed > 0 {
				fill(t, v, seed)
			}
			enc, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range decodeVariants(enc) {
				want := reflect.New(typ)
				wantErr := json.Unmarshal(in, want.Interface())
				got, err := reg.entries[e.EventType()].decode(in)
				switch {
				case (err == nil) != (wantErr == nil):
					t.Errorf("%s %s: error %v, encoding/json's %v", e.EventType(), in, err, wantErr)
				case err == nil && !reflect.DeepEqual(got, want.Elem().Interface()):
					t.Errorf("%s %s:\n got %#v\nwant %#v", e.EventType(), in, got, want.Elem().Interface())
				}
			}
		}
	}
}

// BenchmarkDecode decodes every event type, filled, with the registry and with encoding/json
// (the baseline): go test -run '^$' -bench Decode ./domain/
func BenchmarkDecode(b *testing.B) {
	reg := NewRegistry()
	type sample struct {
		name    string
		version int
		typ     reflect.Type
		data    []byte
	}
	var samples []sample
	for _, e := range allEvents() {
		v := reflect.New(reflect.TypeOf(e)).Elem()
		fill(b, v, 3)
		data, err := json.Marshal(v.Interface())
		if err != nil {
			b.Fatal(err)
		}
		version, _ := reg.SchemaVersion(e.EventType())
		samples = append(samples, sample{e.EventType(), version, v.Type(), data})
	}
	b.Run("registry", func(b *testing.B) {
		for b.Loop() {
			for _, s := range samples {
				if _, err := reg.Decode(s.name, s.version, s.data); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		for b.Loop() {
			for _, s := range samples {
				if err := json.Unmarshal(s.data, reflect.New(s.typ).Interface()); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
