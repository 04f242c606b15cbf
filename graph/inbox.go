package graph

import (
	"context"
	"fmt"
	"strings"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/graph/model"
	"github.com/taskforge/taskforge/projections"
)

// invitations converts pending invitations, charged as rows.
func invitations(ctx context.Context, invs []projections.Invitation) ([]*model.Invitation, error) {
	if err := chargeRows(ctx, len(invs)); err != nil {
		return nil, err
	}
	out := make([]*model.Invitation, len(invs))
	for i, v := range invs {
		out[i] = &model.Invitation{ID: v.ID.String(), WorkspaceID: v.WorkspaceID.String(), WorkspaceName: v.WorkspaceName,
			Email: v.Email, Role: model.Role(strings.ToUpper(v.Role)), InvitedBy: v.InvitedBy, InviterName: v.InviterName,
			CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt}
	}
	return out, nil
}

// preferenceInput validates updateNotificationPreferences' input: known kinds, each at most once
// (so the list is bounded by the number of kinds).
func preferenceInput(in model.UpdateNotificationPreferencesInput) ([]projections.NotificationPreference, error) {
	kinds := domain.NotificationKinds()
	if len(in.Preferences) > len(kinds) {
		return nil, domain.InvalidInput("preferences", fmt.Sprintf("at most %d entries, one per kind", len(kinds)))
	}
	out := make([]projections.NotificationPreference, 0, len(in.Preferences))
	seen := map[string]bool{}
	for i, p := range in.Preferences {
		k := lower(p.Kind)
		if seen[k] {
			return nil, domain.InvalidInput(fmt.Sprintf("preferences[%d].kind", i), "named twice")
		}
		seen[k] = true
		out = append(out, projections.NotificationPreference{Kind: k, Email: p.Email})
	}
	return out, nil
}

func (r *Resolver) preferences(ctx context.Context, user string) ([]*model.NotificationPreference, error) {
	ps, err := r.Queries.NotificationPreferences(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]*model.NotificationPreference, len(ps))
	for i, p := range ps {
		out[i] = &model.NotificationPreference{Kind: model.NotificationKind(strings.ToUpper(p.Kind)), Email: p.Email}
	}
	return out, nil
}
