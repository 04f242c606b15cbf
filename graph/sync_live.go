package graph

import (
	"context"
	"errors"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/graph/loaders"
	"github.com/taskforge/taskforge/graph/model"
)

// CodeMustRefetch ends a workspaceChanged subscription whose client must drop its copy (see
// MustRefetchReason in extensions.reason).
const CodeMustRefetch = "MUST_REFETCH"

// syncPageSize is how many records a workspaceChanged subscription reads at a time.
const syncPageSize = 100

// workspaceChanged streams the records of changes: it registers for wake-ups first, then reads
// from since, so a record applied while it reads is either in the read or followed by a wake-up.
// The channel is unbuffered and the next page is read only once the client has taken the last:
// a slow client holds no more than one page in memory and is never dropped.
func (r *Resolver) workspaceChanged(ctx context.Context, workspaceID string, since *string) (<-chan *model.Change, error) {
	if r.Applied == nil {
		return nil, ErrUnavailable
	}
	ws, err := parseID("workspaceId", workspaceID)
	if err != nil {
		return nil, err
	}
	from, err := parseSince(since)
	if err != nil {
		return nil, err
	}
	if _, err := member(loaders.With(ctx, loaders.New(r.Queries)), ws); err != nil {
		return nil, err
	}
	if err := acquire(ctx); err != nil {
		return nil, err
	}
	wake, err := r.Applied.Subscribe(ctx, ws)
	if err != nil {
		return nil, err
	}
	if since == nil || *since == "" {
		// From now: the position the read models have applied (records at or below it are
		// the state a client loads with its queries).
		if from, err = r.Queries.SyncBound(ctx); err != nil {
			return nil, err
		}
	}
	out := make(chan *model.Change)
	watchEnd(ctx)
	go func() {
		defer close(out)
		pos := from
		for {
			page, err := r.changes(loaders.With(ctx, loaders.New(r.Queries)), workspaceID, ptr(pos.String()), ptr(syncPageSize), nil)
			if err != nil {
				if ctx.Err() == nil {
					endWith(ctx, err, pos)
				}
				return
			}
			if page.MustRefetch {
				endMustRefetch(ctx, page, pos)
				return
			}
			for _, c := range page.Changes {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
				if p, err := eventstore.ParsePosition(c.Position); err == nil {
					pos = p
				}
			}
			if p, err := eventstore.ParsePosition(page.LastPosition); err == nil {
				pos = p
			}
			if page.HasMore {
				continue
			}
			select {
			case _, ok := <-wake:
				if !ok { // the feed stopped (the server is shutting down)
					endWith(ctx, ErrUnavailable, pos)
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func ptr[T any](v T) *T { return &v }

// endWith ends a subscription with err's message and code, and lastPosition.
func endWith(ctx context.Context, err error, last eventstore.GlobalPosition) {
	code := CodeInternal
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		code = string(de.Code)
	case errors.Is(err, ErrUnavailable):
		code = CodeUnavailable
	}
	msg := "the subscription ended: resume with since: lastPosition"
	if code != CodeInternal {
		msg = err.Error()
	}
	addSubscriptionError(ctx, &gqlerror.Error{Message: msg,
		Extensions: map[string]any{"code": code, "lastPosition": last.String()}})
}

func endMustRefetch(ctx context.Context, page *model.ChangePage, last eventstore.GlobalPosition) {
	e := &gqlerror.Error{Message: "drop the local copy of this workspace and sync again from the beginning",
		Extensions: map[string]any{"code": CodeMustRefetch, "lastPosition": last.String()}}
	if page.MustRefetchReason != nil {
		e.Extensions["reason"] = string(*page.MustRefetchReason)
		if *page.MustRefetchReason == model.MustRefetchReasonAccessRevoked {
			e.Message, e.Extensions["code"] = "you are no longer a member of this workspace", string(domain.CodeForbidden)
		}
	}
	addSubscriptionError(ctx, e)
}
