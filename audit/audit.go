// Package audit owns the auditors' read side of the event log: a stream's history page by page
// (webhook URLs redacted: see domain.RedactStored), a workspace's webhooks for its admins,
// an aggregate's state as of a version or an instant (folded from its events, never from a read
// table), and hash chain verification. Every call is authorized against the workspace's
// event-sourced membership: a stream of a workspace the caller is not a member of does not exist
// for them (NOT_FOUND, the same answer as for a stream that does not exist).
package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// MaxPage bounds a history page.
const MaxPage = 100

// Service answers auditors' questions.
type Service struct {
	store *eventstore.Store
	reg   *domain.Registry
}

// New returns the audit service.
func New(store *eventstore.Store, reg *domain.Registry) (*Service, error) {
	if store == nil || reg == nil {
		return nil, errors.New("audit: nil store or registry")
	}
	return &Service{store: store, reg: reg}, nil
}

var errNotFound = domain.NotFound("stream not found")

// HistoryPage is a page of one stream's events, oldest first.
type HistoryPage struct {
	Events  []eventstore.RecordedEvent
	HasNext bool
	// Verified is whether the stream's whole hash chain holds: when it does not, the events
	// were edited outside the application and the page must not be taken as history.
	Verified bool
}

// History returns up to first events of streamID after version after.
func (s *Service) History(ctx context.Context, actor domain.UserID, streamID string, after int64, first int) (HistoryPage, error) {
	if first <= 0 || first > MaxPage {
		return HistoryPage{}, domain.InvalidInput("first", fmt.Sprintf("must be between 1 and %d", MaxPage))
	}
	if after < 0 {
		return HistoryPage{}, domain.InvalidInput("after", "not a valid cursor")
	}
	if err := s.authorize(ctx, actor, streamID); err != nil {
		return HistoryPage{}, err
	}
	evs, err := s.store.ReadStream(ctx, streamID, after+1, first+1)
	if err != nil {
		return HistoryPage{}, err
	}
	rep, err := s.store.Verify(ctx, streamID)
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Events: evs, HasNext: len(evs) > first, Verified: rep.Break == nil}
	if page.HasNext {
		page.Events = evs[:first]
	}
	// Every member reads history: webhook URLs lose what may be a token (the secret itself left
	// the payload when it was upcast or, since schema version 2, was never in it).
	for i := range page.Events {
		e := &page.Events[i]
		data, _, err := domain.RedactStored(e.Type, e.Data)
		if err != nil {
			return HistoryPage{}, err
		}
		e.Data = data
	}
	return page, nil
}

// Webhooks returns a workspace's webhooks from its event-sourced state (admin+; a workspace the
// actor is not a member of is NOT_FOUND). They carry full URLs and secret ids, never secrets.
func (s *Service) Webhooks(ctx context.Context, actor domain.UserID, workspaceID uuid.UUID) ([]domain.Webhook, error) {
	ws, err := s.workspace(ctx, workspaceID)
	if domain.CodeOf(err) == domain.CodeNotFound || (err == nil && !ws.IsMember(actor)) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := ws.Authorize(actor, domain.RoleAdmin); err != nil {
		return nil, err
	}
	return ws.Webhooks(), nil
}

// checkIntegrity refuses to fold a stream whose hash chain does not hold.
func (s *Service) checkIntegrity(ctx context.Context, stream string) error {
	rep, err := s.store.Verify(ctx, stream)
	if err != nil {
		return err
	}
	if rep.Break != nil {
		return &domain.Error{Code: domain.CodeIntegrityViolation,
			Message: fmt.Sprintf("the stream's history does not verify from version %d on: it was edited outside the application", rep.Break.Version)}
	}
	return nil
}

// Verify recomputes a stream's hash chain.
func (s *Service) Verify(ctx context.Context, actor domain.UserID, streamID string) (eventstore.StreamReport, error) {
	if err := s.authorize(ctx, actor, streamID); err != nil {
		return eventstore.StreamReport{}, err
	}
	return s.store.Verify(ctx, streamID)
}

// TaskAt folds a task's events up to version (when not nil) or up to the instant at (when not
// nil), whichever is given; neither means its current state.
func (s *Service) TaskAt(ctx context.Context, actor domain.UserID, taskID uuid.UUID, version *int64, at *time.Time) (*domain.Task, error) {
	if version != nil && at != nil {
		return nil, domain.InvalidInput("version", "give a version or an instant, not both")
	}
	if version != nil && *version < 1 {
		return nil, domain.InvalidInput("version", "must be 1 or more")
	}
	stream := domain.TaskStream(taskID)
	evs, err := s.readAll(ctx, stream)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, errNotFound
	}
	if err := s.authorizeWorkspace(ctx, actor, evs[0].Metadata.WorkspaceID); err != nil {
		return nil, err
	}
	cut := len(evs)
	for i, e := range evs {
		if (version != nil && e.StreamVersion > *version) || (at != nil && e.RecordedAt.After(*at)) {
			cut = i
			break
		}
	}
	if cut == 0 {
		return nil, domain.NotFound("the task did not exist yet")
	}
	// Checked after authorization: a non-member learns nothing about the stream.
	if err := s.checkIntegrity(ctx, stream); err != nil {
		return nil, err
	}
	events, err := s.decode(evs[:cut])
	if err != nil {
		return nil, err
	}
	return domain.LoadTask(events)
}

// authorize lets actor read streamID: a member of the stream's workspace, or the user whose own
// stream it is.
func (s *Service) authorize(ctx context.Context, actor domain.UserID, streamID string) error {
	if streamID == domain.UserStream(actor) {
		return nil
	}
	first, err := s.store.ReadStream(ctx, streamID, 1, 1)
	if err != nil {
		return err
	}
	if len(first) == 0 {
		return errNotFound
	}
	return s.authorizeWorkspace(ctx, actor, first[0].Metadata.WorkspaceID)
}

func (s *Service) authorizeWorkspace(ctx context.Context, actor domain.UserID, workspaceID uuid.UUID) error {
	if workspaceID == uuid.Nil {
		return errNotFound // not a workspace's stream (another user's profile)
	}
	ws, err := s.workspace(ctx, workspaceID)
	if err != nil || !ws.IsMember(actor) {
		return errNotFound
	}
	return nil
}

// workspace loads a workspace from its latest snapshot and the events after it, as the command
// handlers do: membership is decided on event-sourced state.
func (s *Service) workspace(ctx context.Context, id uuid.UUID) (*domain.Workspace, error) {
	stream := domain.WorkspaceStream(id)
	var (
		snapshot []byte
		from     int64 = 1
	)
	if format, ok := domain.SnapshotFormat(domain.StreamTypeWorkspace); ok {
		snap, err := s.store.LoadSnapshot(ctx, stream, format)
		if err == nil {
			snapshot, from = snap.Data, snap.StreamVersion+1
		} else if !errors.Is(err, eventstore.ErrNotFound) {
			return nil, err
		}
	}
	evs, err := s.readFrom(ctx, stream, from)
	if err != nil {
		return nil, err
	}
	events, err := s.decode(evs)
	if err != nil {
		return nil, err
	}
	ws, err := domain.RestoreWorkspace(snapshot, events)
	if err != nil && snapshot != nil {
		// A snapshot this code cannot read: fold from the first event instead.
		return s.workspaceFromStart(ctx, stream)
	}
	return ws, err
}

func (s *Service) workspaceFromStart(ctx context.Context, stream string) (*domain.Workspace, error) {
	evs, err := s.readFrom(ctx, stream, 1)
	if err != nil {
		return nil, err
	}
	events, err := s.decode(evs)
	if err != nil {
		return nil, err
	}
	return domain.LoadWorkspace(events)
}

func (s *Service) readAll(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error) {
	return s.readFrom(ctx, stream, 1)
}

func (s *Service) readFrom(ctx context.Context, stream string, from int64) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for {
		evs, err := s.store.ReadStream(ctx, stream, from+int64(len(out)), eventstore.MaxBatch)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		if len(evs) < eventstore.MaxBatch {
			return out, nil
		}
	}
}

func (s *Service) decode(evs []eventstore.RecordedEvent) ([]domain.Event, error) {
	out := make([]domain.Event, 0, len(evs))
	for _, e := range evs {
		d, err := s.reg.Decode(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return nil, fmt.Errorf("audit: decode %s: %w", e.ID, err)
		}
		out = append(out, d)
	}
	return out, nil
}
