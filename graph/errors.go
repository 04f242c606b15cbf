package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/internal/auth"
)

// Error codes in extensions.code, besides the domain's (INVALID_INPUT, FORBIDDEN, NOT_FOUND,
// CONFLICT, PRECONDITION_FAILED).
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeInternal        = "INTERNAL"
	CodeBadRequest      = "BAD_REQUEST"
	// CodeStale: the read models did not reach the query's consistency token in time; retry.
	CodeStale = "STALE"
	// CodeTimeout: the operation ran past Options.OperationTimeout.
	CodeTimeout = "TIMEOUT"
	// CodeCancelled: the operation's client went away (or the server is stopping).
	CodeCancelled = "CANCELLED"
)

// ErrStale is wrapped by a query whose consistency token the read models did not reach within
// the bounded wait.
var ErrStale = errors.New("the read models have not caught up with the consistency token yet")

// errorPresenter maps errors to what a client may see: a domain error's code and message (written
// for clients), CONFLICT's current version, UNAUTHENTICATED. Anything else is logged and shown as
// a bare INTERNAL error: driver messages, SQL and stack details never leave the server.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Parse and validation errors, made by gqlgen from the client's own input.
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			if _, ok := gqlErr.Extensions["code"]; !ok {
				gqlErr.Extensions["code"] = CodeBadRequest
			}
			gqlErr.Message = withoutBody(gqlErr.Message)
			return gqlErr
		}
		out := graphql.DefaultErrorPresenter(ctx, err)
		ext := map[string]any{}
		var de *domain.Error
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			out.Message = "authentication required"
			ext["code"] = CodeUnauthenticated
		case errors.As(err, &de):
			out.Message = de.Message
			ext["code"] = string(de.Code)
			if field := de.Field; field != "" {
				ext["field"] = apiField(ctx, field)
			} else if de.Code == domain.CodeInvalidInput {
				if field := argumentField(out.Path); field != "" {
					ext["field"] = field // a scalar's refusal: named by where it was
				}
			}
			if v, ok := commands.CurrentVersion(err); ok {
				ext["currentVersion"] = v
			}
			if errors.Is(err, commands.ErrIdempotencyKeyReused) {
				ext["detail"] = commands.DetailIdempotencyKeyReused
			}
		case errors.Is(err, ErrStale):
			out.Message = ErrStale.Error() + "; retry"
			ext["code"] = CodeStale
		case errors.Is(err, ErrUnavailable):
			out.Message = ErrUnavailable.Error()
			ext["code"] = CodeUnavailable
		case errors.Is(err, ErrSubscriptionLimit):
			out.Message = err.Error()
			ext["code"] = CodeSubscriptionLimit
		case errors.Is(err, context.DeadlineExceeded):
			// logged once per operation, at WARN, by answerTimeouts
			out.Message = "the operation took too long"
			ext["code"] = CodeTimeout
		case presentLimit(err, out, ext):
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			// The client went away (or the server is stopping): nothing is wrong with the
			// server, and no one reads the answer.
			log.DebugContext(ctx, "graphql: cancelled", "err", err, "path", out.Path.String())
			out.Message = "the operation was cancelled"
			ext["code"] = CodeCancelled
		default:
			log.ErrorContext(ctx, "graphql: internal error", "err", err, "path", out.Path.String())
			out.Message = "internal error"
			ext["code"] = CodeInternal
		}
		out.Extensions = ext
		return out
	}
}

// recoverFunc turns a resolver panic into an INTERNAL error; the panic text goes to the log only.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql: panic in resolver", "panic", fmt.Sprint(p))
		return errors.New("panic in resolver") // presented as INTERNAL
	}
}

// answerTimeouts logs, once per operation, at WARN, an operation that ran out of
// Options.OperationTimeout: with its request id and name, what an operator needs to find it. And it
// answers a query or mutation whose time ran out before it ran: gqlgen then answers nothing, which
// its HTTP transports send as a 200 with the body null (no data, no error). That happens when the
// read cache's wait for a consistency token takes the whole timeout (the request's first read of
// the cache, readCacheExtension, waits before gqlgen executes): the client got an empty answer to a
// read it had asked to be at least as new as its write. Such an operation gets its TIMEOUT error
// instead; nothing of it ran.
func answerTimeouts(log *slog.Logger, present graphql.ErrorPresenterFunc) graphql.OperationMiddleware {
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		respond := next(ctx)
		answered := false // a transport that iterates (websockets) takes nil as the end
		return func(ctx context.Context) *graphql.Response {
			resp := respond(ctx)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				oc := graphql.GetOperationContext(ctx)
				info, _ := commands.RequestFrom(ctx)
				name := oc.OperationName // as the client asked, else as the document names it
				if name == "" && oc.Operation != nil {
					name = oc.Operation.Name
				}
				if name == "" {
					name = "(anonymous)"
				}
				log.WarnContext(ctx, "graphql: operation timed out", "request_id", info.RequestID,
					"operation", name, "elapsed", time.Since(oc.Stats.OperationStart))
				if resp == nil && !answered && oc.Operation != nil && oc.Operation.Operation != ast.Subscription {
					resp = &graphql.Response{Errors: gqlerror.List{present(ctx, ctx.Err())}}
				}
			}
			answered = answered || resp != nil
			return resp
		}
	}
}

// apiField names a domain error's field in the API's own terms, as the argument path a client
// sent: the domain's snake_case camelCased (due_date → dueDate, statuses[1].id stays), prefixed
// with the field's input argument ("input.dueDate") unless it names an argument of the field
// itself ("through", "after", "first"). The one rule for every resolver; TestErrorFieldsAreArguments
// checks it against the schema.
func apiField(ctx context.Context, field string) string {
	field = camelCase(field)
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || fc.Field.Definition == nil {
		return field
	}
	args := fc.Field.Definition.Arguments
	first, _, _ := strings.Cut(field, ".")
	first, _, _ = strings.Cut(first, "[")
	if args.ForName(first) != nil || args.ForName("input") == nil {
		return field
	}
	return "input." + field
}

// camelCase turns snake_case segments into camelCase: "input.due_date" is "input.dueDate".
func camelCase(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	upper := false
	for _, r := range s {
		switch {
		case r == '_':
			upper = true
			continue
		case upper:
			r = unicode.ToUpper(r)
		}
		upper = false
		b.WriteRune(r)
	}
	return b.String()
}
