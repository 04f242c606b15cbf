package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/internal/auth"
)

// CloseUnauthenticated is the websocket close code for a connection without a valid token: a
// malformed, forged or expired one in connection_init, or a token that expired while the
// connection was open. It follows the graphql-transport-ws convention (4401), which clients treat
// as "authenticate again" rather than "reconnect as before" (1000 means a normal end).
const CloseUnauthenticated = 4401

// Subscription error codes in extensions.code.
const (
	// CodeUnavailable: live updates are not running in this process; a subscription that ends
	// with it carries extensions.lastPosition to resume from.
	CodeUnavailable = "UNAVAILABLE"
	// CodeSubscriptionLimit: the connection holds Options.MaxSubscriptions subscriptions already.
	CodeSubscriptionLimit = "SUBSCRIPTION_LIMIT_EXCEEDED"
	// CodeSlowConsumer ends a subscription whose client did not read its messages: resume from
	// the error's extensions.lastPosition (the live hub's code).
	CodeSlowConsumer = live.CodeSlowConsumer
)

var (
	// ErrUnavailable answers a subscription when the process runs no live hub (or it stopped).
	ErrUnavailable = live.ErrUnavailable
	// ErrSubscriptionLimit answers a subscription over the per-connection limit.
	ErrSubscriptionLimit = errors.New("too many subscriptions on this connection")
)

// connection is a websocket connection's state: its subscription count against the limit.
type connection struct {
	mu   sync.Mutex
	n    int
	max  int
	user string
}

type connectionKey struct{}

// acquire takes one of the connection's subscription slots until ctx is done.
func acquire(ctx context.Context) error {
	c, ok := ctx.Value(connectionKey{}).(*connection)
	if !ok {
		return nil // not over websocket (no other transport serves subscriptions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.max {
		return fmt.Errorf("%w (limit %d)", ErrSubscriptionLimit, c.max)
	}
	c.n++
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.n--
		c.mu.Unlock()
	})
	return nil
}

// wsInit authenticates a websocket connection: the connection_init payload's authorization
// ("Bearer <token>", as browsers cannot set headers on a websocket) or else the upgrade request's
// Authorization header, already verified by withRequest. An invalid token closes the connection
// with CloseUnauthenticated; none leaves it anonymous (every subscription field needs a principal:
// UNAUTHENTICATED). An authenticated connection lives only as long as its token (untilExpiry).
func wsInit(v *auth.Verifier, maxSubs int) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		refuse := func(msg string) (context.Context, *transport.InitPayload, error) {
			ctx := transport.WithWebsocketCloseCode(ctx, CloseUnauthenticated)
			return transport.AppendCloseReason(ctx, msg), nil, errors.New(msg)
		}
		if h := p.Authorization(); h != "" {
			scheme, tok, found := strings.Cut(h, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
				return refuse("authorization must be \"Bearer <token>\"")
			}
			pr, err := v.Verify(ctx, strings.TrimSpace(tok))
			if err != nil {
				return refuse("invalid or expired token")
			}
			ctx = auth.WithPrincipal(ctx, pr)
		}
		c := &connection{max: maxSubs}
		if pr, ok := auth.PrincipalFrom(ctx); ok {
			c.user = pr.UserID
			ctx = untilExpiry(ctx, v.ValidUntil(pr))
		}
		return context.WithValue(ctx, connectionKey{}, c), nil, nil
	}
}

// errTokenExpired is the cause of an authenticated connection's context ending at its token's
// expiry.
var errTokenExpired = errors.New("token expired")

// untilExpiry returns the connection's context, which ends at the token's expiry: gqlgen then
// ends every subscription (their contexts derive from it) and closes the socket, with
// CloseUnauthenticated instead of a normal closure (closeCodes).
func untilExpiry(ctx context.Context, at time.Time) context.Context {
	slot, _ := ctx.Value(closeSlotKey{}).(*closeSlot)
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(time.Until(at), func() {
		if slot != nil {
			slot.set(CloseUnauthenticated, errTokenExpired.Error())
		}
		cancel(errTokenExpired)
	})
	context.AfterFunc(ctx, func() { timer.Stop() }) // the connection ended first
	return ctx
}

// closeSlot is a websocket connection's close code, chosen after the handshake: gqlgen closes a
// connection whose context ended with a normal closure (1000) and takes no code from it, so the
// connection is wrapped (closeCodes) to write the code set here instead.
type closeSlot struct {
	mu     sync.Mutex
	code   int
	reason string
}

type closeSlotKey struct{}

func (s *closeSlot) set(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code, s.reason = code, reason
}

func (s *closeSlot) get() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.reason
}

// withCloseSlot gives each websocket upgrade a closeSlot in its context, which the connection's
// init (wsInit) and its socket (closeCodes) share.
func withCloseSlot(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			r = r.WithContext(context.WithValue(r.Context(), closeSlotKey{}, &closeSlot{}))
		}
		next.ServeHTTP(w, r)
	})
}

// closeCodes accepts websockets whose normal closure is replaced by the code in the request's
// closeSlot, when one was set.
type closeCodes struct {
	transport.WebsocketImplementation
}

func (i closeCodes) Accept(w http.ResponseWriter, r *http.Request, o transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	c, err := i.WebsocketImplementation.Accept(w, r, o)
	if err != nil {
		return nil, err
	}
	slot, ok := r.Context().Value(closeSlotKey{}).(*closeSlot)
	if !ok {
		return c, nil
	}
	return &slotConn{WebsocketConn: c, slot: slot}, nil
}

// slotConn is a websocket connection closed with its slot's code; it keeps the read limit and
// read deadline of the connection it wraps (gqlgen finds them by type assertion).
type slotConn struct {
	transport.WebsocketConn
	slot *closeSlot
}

func (c *slotConn) WriteClose(code int, reason string) error {
	if code == transport.WebsocketCloseNormalClosure {
		if sc, sr := c.slot.get(); sc != 0 {
			code, reason = sc, sr
		}
	}
	return c.WebsocketConn.WriteClose(code, reason)
}

func (c *slotConn) SetReadLimit(n int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(n)
	}
}

func (c *slotConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// liveProject checks a project subscription: the caller must be a member of the project's
// workspace (NOT_FOUND otherwise, like the project query).
func (r *Resolver) liveProject(ctx context.Context, projectID string) (live.Target, error) {
	if r.Hub == nil {
		return live.Target{}, ErrUnavailable
	}
	a, err := actor(ctx)
	if err != nil {
		return live.Target{}, err
	}
	pid, err := parseID("projectId", projectID)
	if err != nil {
		return live.Target{}, err
	}
	p, err := locate(ctx, r, pid, r.Queries.ProjectInWorkspaces)
	if err != nil {
		return live.Target{}, err
	}
	if err := acquire(ctx); err != nil {
		return live.Target{}, err
	}
	return live.Target{Workspace: p.WorkspaceID, Project: p.ID, User: string(a.UserID)}, nil
}

// liveInbox checks a notification subscription: the caller must be a member of the workspace.
func (r *Resolver) liveInbox(ctx context.Context, workspaceID string) (live.Target, error) {
	if r.Hub == nil {
		return live.Target{}, ErrUnavailable
	}
	a, err := actor(ctx)
	if err != nil {
		return live.Target{}, err
	}
	ws, err := parseID("workspaceId", workspaceID)
	if err != nil {
		return live.Target{}, err
	}
	if _, err := member(loaders.With(ctx, loaders.New(r.Queries)), ws); err != nil {
		return live.Target{}, err
	}
	if err := acquire(ctx); err != nil {
		return live.Target{}, err
	}
	return live.Target{Workspace: ws, User: string(a.UserID)}, nil
}

// endNotice returns what the hub calls when it ends the subscription of ctx. Unless the client
// stopped it, the client receives an error (not a plain completion, which reads as "done") with a
// code and extensions.lastPosition, the position (a consistency token) of the last message it
// was sent, or where the subscription started when none: every change after it is in the log, so
// the client resumes from there and misses nothing. SLOW_CONSUMER: it did not read its messages;
// UNAVAILABLE: the server is stopping or could not load a change; FORBIDDEN: no longer a member.
func endNotice(ctx context.Context) func(live.End) {
	return func(end live.End) {
		var msg, code string
		switch end.Reason {
		case live.EndSlow:
			msg, code = "the subscription was dropped: its client did not read its messages; resume from lastPosition", CodeSlowConsumer
		case live.EndStopped:
			msg, code = "live updates stopped on this server; resume from lastPosition", CodeUnavailable
		case live.EndFailed:
			msg, code = "a change could not be loaded for this subscription; resume from lastPosition", CodeUnavailable
		case live.EndRevoked:
			msg, code = "you are no longer a member of this workspace", string(domain.CodeForbidden)
		default:
			return
		}
		addSubscriptionError(ctx, &gqlerror.Error{Message: msg,
			Extensions: map[string]any{"code": code, "lastPosition": end.LastPosition.String()}})
	}
}

// A subscription's final error must reach gqlgen's websocket goroutine, which reads it once the
// subscription's channel is closed or its context is done. transport.AddSubscriptionError from
// the goroutine that ends the subscription races with that read when the client leaves at the
// same moment (the race detector saw it). So the error is left in a slot of the operation's, and
// deliverSubscriptionEnd, a response middleware running in gqlgen's goroutine, hands it over
// when the stream ends: the write and the read then happen in one goroutine.
var subscriptionEnds sync.Map // *graphql.OperationContext → *endSlot

type endSlot struct {
	mu   sync.Mutex
	errs []*gqlerror.Error
}

// watchEnd opens the end slot of the subscription of ctx; call it before returning its channel.
func watchEnd(ctx context.Context) {
	if graphql.HasOperationContext(ctx) {
		subscriptionEnds.LoadOrStore(graphql.GetOperationContext(ctx), &endSlot{})
	}
}

// addSubscriptionError leaves e for the client of the subscription of ctx; the caller then
// closes the subscription's channel. Without a slot (the stream already ended: the client is
// gone) it is dropped.
func addSubscriptionError(ctx context.Context, e *gqlerror.Error) {
	if !graphql.HasOperationContext(ctx) {
		return
	}
	v, ok := subscriptionEnds.Load(graphql.GetOperationContext(ctx))
	if !ok {
		return
	}
	slot := v.(*endSlot)
	slot.mu.Lock()
	slot.errs = append(slot.errs, e)
	slot.mu.Unlock()
}

// deliverSubscriptionEnd is the response middleware that hands a subscription's final errors to
// the websocket transport in its own goroutine, when the stream ends (a nil response).
func deliverSubscriptionEnd(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	v, ok := subscriptionEnds.LoadAndDelete(graphql.GetOperationContext(ctx))
	if !ok {
		return resp
	}
	slot := v.(*endSlot)
	slot.mu.Lock()
	errs := slot.errs
	slot.errs = nil
	slot.mu.Unlock()
	defer func() { _ = recover() }() // not the websocket transport: a plain completion
	for _, e := range errs {
		transport.AddSubscriptionError(ctx, e)
	}
	return resp
}
