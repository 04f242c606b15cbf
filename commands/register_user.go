package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
)

// RegisterUser records the caller's profile from their token: the first time, registration;
// afterwards, a refresh of the name and (verified) email.
type RegisterUser struct {
	Actor          domain.Actor
	IdempotencyKey string
}

func (RegisterUser) CommandName() string      { return "register_user" }
func (c RegisterUser) ActorID() domain.UserID { return c.Actor.UserID }

// UserResult is the user a command changed, like Result for user streams.
type UserResult struct {
	UserID   domain.UserID
	Version  int64
	Position eventstore.GlobalPosition
}

func userResult(id domain.UserID, res eventstore.AppendResult) UserResult {
	r := result(uuid.Nil, domain.UserStream(id), res)
	return UserResult{UserID: id, Version: r.Version, Position: r.Position}
}

type RegisterUserHandler struct{ rt *Runtime }

// Handle registers the caller, or, when they are registered already, refreshes their profile
// from the token (domain.User.Reregister): a login-time upsert, safe to call on every sign-in,
// that records nothing when nothing changed.
func (h *RegisterUserHandler) Handle(ctx context.Context, cmd RegisterUser) (UserResult, error) {
	inv, err := invoke(cmd, cmd.IdempotencyKey, "")
	if err != nil {
		return UserResult{}, err
	}
	stream := domain.UserStream(cmd.Actor.UserID)
	res, err := h.rt.execute(ctx, inv, plan{cmd: cmd, decide: func(ctx context.Context) (decision, error) {
		u, err := h.rt.loadUser(ctx, cmd.Actor.UserID)
		if domain.CodeOf(err) == domain.CodeNotFound {
			events, err := domain.RegisterUser(cmd.Actor, h.rt.now())
			if err != nil {
				return decision{}, err
			}
			return decision{writes: []write{newStreamWrite(stream, domain.StreamTypeUser, events)}}, nil
		} else if err != nil {
			return decision{}, err
		}
		events, err := u.Reregister(cmd.Actor, h.rt.now())
		if err != nil {
			return decision{}, err
		}
		return decision{writes: []write{exactWrite(stream, domain.StreamTypeUser, u.Version(), events)}}, nil
	}})
	if err != nil {
		return UserResult{}, err
	}
	return userResult(cmd.Actor.UserID, res), nil
}
