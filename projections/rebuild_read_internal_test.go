package projections

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/eventstore"
)

// TestParseMetadataAsJSON: the load phase's metadata parser must give exactly what
// json.Unmarshal gives, on the shape the store writes and on anything else.
func TestParseMetadataAsJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"actor":"u1","correlation_id":"6f1c0f4e-1d2b-4c53-9a3e-0b8a1e2f3c4d","causation_id":"00000000-0000-0000-0000-000000000000","workspace_id":"9b2e7c1a-3f4d-4e5b-8c6d-7e8f9a0b1c2d"}`,
		`{"actor":"u1","correlation_id":"6f1c0f4e-1d2b-4c53-9a3e-0b8a1e2f3c4d","causation_id":"6f1c0f4e-1d2b-4c53-9a3e-0b8a1e2f3c4d","workspace_id":"9b2e7c1a-3f4d-4e5b-8c6d-7e8f9a0b1c2d","request_id":"r-1","input_hash":"ab12","client_mutation_id":"m-7"}`,
		` { "actor" : "Zoë ✓" , "workspace_id" : "9b2e7c1a-3f4d-4e5b-8c6d-7e8f9a0b1c2d" } `,
		`{"actor":"a\"b","workspace_id":"9b2e7c1a-3f4d-4e5b-8c6d-7e8f9a0b1c2d"}`, // escape: encoding/json
		`{"actor":"\u00e9"}`,
		`{"Actor":"case-insensitive key"}`,
		`{"actor":"u1","other":{"nested":[1,2]}}`,
		`{"actor":null,"workspace_id":null}`,
		`{"actor":"u1","actor":"u2"}`,
		`{"workspace_id":"not a uuid"}`,
		`{"workspace_id":""}`,
		`{"workspace_id":"{9b2e7c1a-3f4d-4e5b-8c6d-7e8f9a0b1c2d}"}`,
		`{"actor":"u1",}`,
		`{"actor":"u1"`,
		`{"actor":"tab	inside"}`,
		`{"actor":"` + string([]byte{0xff, 0xfe}) + `"}`,
		`{}`,
		`[]`,
		``,
	} {
		var want eventstore.Metadata
		wantErr := json.Unmarshal([]byte(in), &want)
		var got eventstore.Metadata
		err := parseMetadata([]byte(in), &got)
		if wantErr != nil {
			require.Error(t, err, in)
			continue
		}
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
}
