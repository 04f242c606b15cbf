package commands

import (
	"context"

	"github.com/taskforge/taskforge/domain"
)

// UpdateUserProfile changes the caller's own display name and email.
type UpdateUserProfile struct {
	Actor           domain.Actor
	DisplayName     string
	Email           string
	ExpectedVersion *int64
	IdempotencyKey  string
}

func (UpdateUserProfile) CommandName() string      { return "update_user_profile" }
func (c UpdateUserProfile) ActorID() domain.UserID { return c.Actor.UserID }

type UpdateUserProfileHandler struct{ rt *Runtime }

func (h *UpdateUserProfileHandler) Handle(ctx context.Context, cmd UpdateUserProfile) (UserResult, error) {
	if err := validExpected(cmd.ExpectedVersion); err != nil {
		return UserResult{}, err
	}
	inv, err := invoke(cmd, cmd.IdempotencyKey, "")
	if err != nil {
		return UserResult{}, err
	}
	stream := domain.UserStream(cmd.Actor.UserID)
	p := plan{cmd: cmd, decide: func(ctx context.Context) (decision, error) {
		u, err := h.rt.loadUser(ctx, cmd.Actor.UserID)
		if err != nil {
			return decision{}, err
		}
		events, err := u.UpdateProfile(cmd.Actor, cmd.DisplayName, cmd.Email, h.rt.now())
		if err := settle(err, cmd.ExpectedVersion, u.Version()); err != nil {
			return decision{}, err
		}
		return decision{writes: []write{exactWrite(stream, domain.StreamTypeUser, u.Version(), events)}}, nil
	}}
	if cmd.ExpectedVersion != nil {
		p.pinned = stream
	}
	res, err := h.rt.execute(ctx, inv, p)
	if err != nil {
		return UserResult{}, err
	}
	return userResult(cmd.Actor.UserID, res), nil
}
