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
