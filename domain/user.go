package domain

import (
	"fmt"
	"strings"
	"time"
)

// UserID identifies a user: the subject of their identity token.
type UserID string

// Actor is the authenticated caller of a command, as taken from the token.
type Actor struct {
	UserID      UserID
	Email       string
	DisplayName string
	// EmailVerified: the identity provider vouches that the user
	// controls Email (the token's email_verified claim).
	EmailVerified bool
}

const (
	EventUserRegistered     = "user.registered"
	EventUserProfileUpdated = "user.profile_updated"
)

// UserRegistered starts a user stream.
type UserRegistered struct {
	UserID      UserID    `json:"user_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

// UserProfileUpdated carries the whole new profile.
type UserProfileUpdated struct {
	UserID      UserID    `json:"user_id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	By          UserID    `json:"by"`
	At          time.Time `json:"at"`
}

func (UserRegistered) EventType() string     { return EventUserRegistered }
func (UserProfileUpdated) EventType() string { return EventUserProfileUpdated }

// User is a person's profile. Workspace membership lives on the workspace.
type User struct {
	state userState
}

type userState struct {
	ID           UserID    `json:"id"`
	Email        string    `json:"email"`
	DisplayName  string    `json:"display_name"`
	RegisteredAt time.Time `json:"registered_at"`
	Version      int64     `json:"version"`
}

// RegisterUser records the caller's profile, taken from their token.
func RegisterUser(actor Actor, now time.Time) ([]Event, error) {
	if err := checkUserID("user_id", actor.UserID); err != nil {
		return nil, err
	}
	name, err := cleanLine("display_name", actor.DisplayName, MaxNameLen)
	if err != nil {
		return nil, err
	}
	email, err := cleanEmail("email", actor.Email)
	if err != nil {
		return nil, err
	}
	return []Event{UserRegistered{
		UserID: actor.UserID, Email: email, DisplayName: name, By: actor.UserID, At: now.UTC(),
	}}, nil
}

// Reregister is RegisterUser for a user who is registered already: the login-time refresh of the
// profile from the token. The display name follows the token's; the email follows the token's
// only when the token vouches for it (invitations are matched by email). A token that changes
// nothing records nothing, so calling it on every sign-in is free.
func (u *User) Reregister(actor Actor, now time.Time) ([]Event, error) {
	name, email := u.state.DisplayName, u.state.Email
	if strings.TrimSpace(actor.DisplayName) != "" {
		name = actor.DisplayName
	}
	if actor.EmailVerified && strings.TrimSpace(actor.Email) != "" && !sameEmail(strings.TrimSpace(actor.Email), email) {
		email = actor.Email
	}
	return u.UpdateProfile(actor, name, email, now)
}

// UpdateProfile changes the display name and email; only the user may do so.
// An update that changes nothing records nothing.
func (u *User) UpdateProfile(actor Actor, displayName, email string, now time.Time) ([]Event, error) {
	if actor.UserID != u.state.ID {
		return nil, Forbidden("only users can change their own profile")
	}
	name, err := cleanLine("display_name", displayName, MaxNameLen)
	if err != nil {
		return nil, err
	}
	email, err = cleanEmail("email", email)
	if err != nil {
		return nil, err
	}
	// A new address must be one the user proved they control: invitations are
	// matched by email, so an unproven one would claim someone else's.
	if email != u.state.Email && !(actor.EmailVerified && sameEmail(email, actor.Email)) {
		return nil, InvalidInput("email", "must be the verified email address of your sign-in; verify the new address with your identity provider first")
	}
	if name == u.state.DisplayName && email == u.state.Email {
		return nil, nil
	}
	return []Event{UserProfileUpdated{
		UserID: u.state.ID, Email: email, DisplayName: name, By: actor.UserID, At: now.UTC(),
	}}, nil
}

func (u *User) ID() UserID              { return u.state.ID }
func (u *User) Email() string           { return u.state.Email }
func (u *User) DisplayName() string     { return u.state.DisplayName }
func (u *User) RegisteredAt() time.Time { return u.state.RegisteredAt }

// Version is the number of events folded into u: the stream version that a
// command appending after it must expect.
func (u *User) Version() int64 { return u.state.Version }

// Handle is how u is @mentioned: the local part of the email, lower-cased.
func (u *User) Handle() string { return emailHandle(u.state.Email) }

// LoadUser rebuilds a user from its whole stream, for loading only: decisions
// are taken by behaviour methods, never while folding. An empty stream is
// NOT_FOUND.
func LoadUser(events []Event) (*User, error) { return RestoreUser(nil, events) }

// RestoreUser loads a user from a snapshot (nil for none) and the events
// recorded after it, for loading only.
func RestoreUser(snapshot []byte, events []Event) (*User, error) {
	u := &User{}
	if snapshot != nil {
		if err := unmarshalSnapshot(StreamTypeUser, userSnapshotFormat, snapshot, &u.state); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		if err := u.apply(e); err != nil {
			return nil, fmt.Errorf("load user %s at version %d: %w", u.state.ID, u.state.Version+1, err)
		}
		u.state.Version++
	}
	if u.state.Version == 0 {
		return nil, NotFound("user not found")
	}
	return u, nil
}

// Snapshot encodes u's state for the event store's snapshot table.
func (u *User) Snapshot() ([]byte, error) {
	return marshalSnapshot(StreamTypeUser, userSnapshotFormat, u.state)
}

func (u *User) apply(e Event) error {
	if err := checkFirst(u.state.Version, e, EventUserRegistered); err != nil {
		return err
	}
	switch e := e.(type) {
	case UserRegistered:
		u.state = userState{ID: e.UserID, Email: e.Email, DisplayName: e.DisplayName, RegisteredAt: e.At}
	case UserProfileUpdated:
		u.state.Email, u.state.DisplayName = e.Email, e.DisplayName
	default:
		return errUnexpectedEvent(e)
	}
	return nil
}

// emailHandle is the @mention handle derived from an email address.
func emailHandle(email string) string {
	local, _, ok := strings.Cut(email, "@")
	if !ok {
		return ""
	}
	return strings.ToLower(local)
}
