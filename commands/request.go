package commands

import (
	"context"

	"github.com/google/uuid"
)

// RequestInfo identifies the request a command runs for. It ends up in every
// event's metadata.
type RequestInfo struct {
	// CorrelationID ties together everything one user action caused. When
	// it is zero the command's own id is used.
	CorrelationID uuid.UUID
	// RequestID is the transport's request id (e.g. an HTTP header), for
	// finding the request in logs.
	RequestID string
}

type requestKey struct{}

// WithRequest returns a context carrying info, for the handlers called with
// it. The API layer sets it once per request.
func WithRequest(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestKey{}, info)
}

// RequestFrom returns the RequestInfo set by WithRequest.
func RequestFrom(ctx context.Context) (RequestInfo, bool) {
	info, ok := ctx.Value(requestKey{}).(RequestInfo)
	return info, ok
}

// MaxRequestIDLen bounds a client-supplied request id: it is stored in every
// event's metadata, which is immutable, and echoed back.
const MaxRequestIDLen = 128

// ValidRequestID reports whether s may be used as a request id as given:
// 1..MaxRequestIDLen printable ASCII characters (no spaces or controls).
func ValidRequestID(s string) bool {
	if s == "" || len(s) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// RequestID returns the client's request id when it is valid, else a fresh
// one: an oversized or binary id never reaches the log or a response header.
func RequestID(fromClient string) string {
	if ValidRequestID(fromClient) {
		return fromClient
	}
	return uuid.NewString()
}

type clientMutationKey struct{}

// WithClientMutationID returns a context whose commands record id as the client mutation id of
// the events they append (eventstore.Metadata.ClientMutationID). The caller validates id
// (ValidRequestID's rules: it is stored in immutable metadata and echoed).
func WithClientMutationID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, clientMutationKey{}, id)
}

// ClientMutationIDFrom returns the id set by WithClientMutationID, or "".
func ClientMutationIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(clientMutationKey{}).(string)
	return id
}
