package graph

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/internal/auth"
)

// Subscription error codes in extensions.code.
const (
	// CodeUnavailable: live updates are not running in this process.
	CodeUnavailable = "UNAVAILABLE"
	// CodeSubscriptionLimit: the connection holds Options.MaxSubscriptions subscriptions already.
	CodeSubscriptionLimit = "SUBSCRIPTION_LIMIT_EXCEEDED"
	// CodeSlowConsumer ends a subscription whose client fell too far behind: re-query, then
	// subscribe again.
	CodeSlowConsumer = "SLOW_CONSUMER"
)

var (
	// ErrUnavailable answers a subscription when the process runs no live hub (or it stopped).
	ErrUnavailable = errors.New("live updates are unavailable")
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
// Authorization header, already verified by withRequest. An invalid token closes the connection;
// none leaves it anonymous (every subscription field needs a principal: UNAUTHENTICATED).
func wsInit(v *auth.Verifier, maxSubs int) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		if h := p.Authorization(); h != "" {
			scheme, tok, found := strings.Cut(h, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
				return ctx, nil, errors.New("authorization must be \"Bearer <token>\"")
			}
			pr, err := v.Verify(ctx, strings.TrimSpace(tok))
			if err != nil {
				return ctx, nil, errors.New("invalid or expired token")
			}
			ctx = auth.WithPrincipal(ctx, pr)
		}
		c := &connection{max: maxSubs}
		if pr, ok := auth.PrincipalFrom(ctx); ok {
			c.user = pr.UserID
		}
		return context.WithValue(ctx, connectionKey{}, c), nil, nil
	}
}

// liveProject checks a project subscription: the caller must be a member of the project's
// workspace (NOT_FOUND otherwise, like the project query).
func (r *Resolver) liveProject(ctx context.Context, kind subKind, projectID string) (*hubSub, error) {
	if r.Hub == nil {
		return nil, ErrUnavailable
	}
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	pid, err := parseID("projectId", projectID)
	if err != nil {
		return nil, err
	}
	p, err := locate(ctx, r, pid, r.Queries.ProjectInWorkspaces)
	if err != nil {
		return nil, err
	}
	if err := acquire(ctx); err != nil {
		return nil, err
	}
	return &hubSub{kind: kind, workspace: p.WorkspaceID, project: p.ID, user: string(a.UserID)}, nil
}

// liveInbox checks a notification subscription: the caller must be a member of the workspace.
func (r *Resolver) liveInbox(ctx context.Context, workspaceID string) (*hubSub, error) {
	if r.Hub == nil {
		return nil, ErrUnavailable
	}
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := parseID("workspaceId", workspaceID)
	if err != nil {
		return nil, err
	}
	if _, err := member(loaders.With(ctx, loaders.New(r.Queries)), ws); err != nil {
		return nil, err
	}
	if err := acquire(ctx); err != nil {
		return nil, err
	}
	return &hubSub{kind: subNotification, workspace: ws, user: string(a.UserID)}, nil
}

// slowNotice returns what the hub calls when it drops the subscription of ctx: the client then
// receives an error message with code SLOW_CONSUMER instead of a plain completion.
func slowNotice(ctx context.Context) func() {
	return func() {
		defer func() { _ = recover() }() // ctx not from the websocket transport: a plain completion
		transport.AddSubscriptionError(ctx, &gqlerror.Error{
			Message:    "the subscription fell too far behind and was dropped; re-query, then subscribe again",
			Extensions: map[string]any{"code": CodeSlowConsumer},
		})
	}
}
