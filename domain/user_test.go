package domain

import (
	"strings"
	"testing"
)

func TestRegisterUser(t *testing.T) {
	t.Parallel()
	register := func(a Actor) func(world) ([]Event, error) {
		return func(world) ([]Event, error) { return RegisterUser(a, now) }
	}
	run(t, []scenario{
		{name: "from the token", when: register(Actor{UserID: "auth0|42", Email: " ada@example.com ", DisplayName: " Ada "}),
			then: []Event{UserRegistered{UserID: "auth0|42", Email: "ada@example.com", DisplayName: "Ada", By: "auth0|42", At: now}}},
		{name: "100-character name", when: register(Actor{UserID: "u", Email: "u@x.io", DisplayName: strings.Repeat("n", 100)}),
			then: []Event{UserRegistered{UserID: "u", Email: "u@x.io", DisplayName: strings.Repeat("n", 100), By: "u", At: now}}},
		{name: "no user id", when: register(Actor{Email: "u@x.io", DisplayName: "U"}), err: CodeInvalidInput},
		{name: "user id with a control character", when: register(Actor{UserID: "u\n", Email: "u@x.io", DisplayName: "U"}), err: CodeInvalidInput},
		{name: "user id too long", when: register(Actor{UserID: UserID(strings.Repeat("u", 256)), Email: "u@x.io", DisplayName: "U"}), err: CodeInvalidInput},
		{name: "no display name", when: register(Actor{UserID: "u", Email: "u@x.io"}), err: CodeInvalidInput},
		{name: "display name too long", when: register(Actor{UserID: "u", Email: "u@x.io", DisplayName: strings.Repeat("n", 101)}), err: CodeInvalidInput},
		{name: "no email", when: register(Actor{UserID: "u", DisplayName: "U"}), err: CodeInvalidInput},
		{name: "invalid email", when: register(Actor{UserID: "u", Email: "u at x.io", DisplayName: "U"}), err: CodeInvalidInput},
		{name: "email with a display name", when: register(Actor{UserID: "u", Email: "U <u@x.io>", DisplayName: "U"}), err: CodeInvalidInput},
		{name: "email too long", when: register(Actor{UserID: "u", Email: strings.Repeat("u", 250) + "@x.io", DisplayName: "U"}), err: CodeInvalidInput},
	})
}

func TestUpdateProfile(t *testing.T) {
	t.Parallel()
	given := []Event{UserRegistered{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia", By: "mia", At: t0}}
	update := func(a Actor, name, email string) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.user.UpdateProfile(a, name, email, now) }
	}
	run(t, []scenario{
		{name: "new name", given: given, when: update(member, "Mia K.", "mia@example.com"),
			then: []Event{UserProfileUpdated{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia K.", By: "mia", At: now}}},
		{name: "new verified email", given: given, when: update(Actor{UserID: "mia", Email: "mia@new.io", EmailVerified: true}, "Mia", "mia@new.io"),
			then: []Event{UserProfileUpdated{UserID: "mia", Email: "mia@new.io", DisplayName: "Mia", By: "mia", At: now}}},
		{name: "new email, not the token's", given: given, when: update(Actor{UserID: "mia", Email: "mia@example.com", EmailVerified: true}, "Mia", "boss@corp.io"),
			err: CodeInvalidInput},
		{name: "new email, token's unverified", given: given, when: update(Actor{UserID: "mia", Email: "boss@corp.io"}, "Mia", "boss@corp.io"),
			err: CodeInvalidInput},
		{name: "same email, unverified token", given: given, when: update(Actor{UserID: "mia", Email: "other@x.io"}, "Mia M.", "mia@example.com"),
			then: []Event{UserProfileUpdated{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia M.", By: "mia", At: now}}},
		{name: "nothing changes", given: given, when: update(member, " Mia ", "mia@example.com")},
		{name: "someone else", given: given, when: update(admin, "Mia", "mia@example.com"), err: CodeForbidden},
		{name: "invalid email", given: given, when: update(member, "Mia", "mia@"), err: CodeInvalidInput},
		{name: "blank name", given: given, when: update(member, "", "mia@example.com"), err: CodeInvalidInput},
	})
}

func TestReregister(t *testing.T) {
	t.Parallel()
	given := []Event{UserRegistered{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia", By: "mia", At: t0}}
	reregister := func(a Actor) func(world) ([]Event, error) {
		return func(w world) ([]Event, error) { return w.user.Reregister(a, now) }
	}
	run(t, []scenario{
		{name: "same token", given: given, when: reregister(Actor{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia"})},
		{name: "same email in another case", given: given, when: reregister(Actor{UserID: "mia", Email: "MIA@example.com", DisplayName: "Mia", EmailVerified: true})},
		{name: "new name", given: given, when: reregister(Actor{UserID: "mia", Email: "mia@example.com", DisplayName: " Mia K. "}),
			then: []Event{UserProfileUpdated{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia K.", By: "mia", At: now}}},
		{name: "no name in the token", given: given, when: reregister(Actor{UserID: "mia", Email: "mia@example.com"})},
		{name: "new verified email", given: given, when: reregister(Actor{UserID: "mia", Email: "mia@new.io", DisplayName: "Mia", EmailVerified: true}),
			then: []Event{UserProfileUpdated{UserID: "mia", Email: "mia@new.io", DisplayName: "Mia", By: "mia", At: now}}},
		{name: "new unverified email: kept", given: given, when: reregister(Actor{UserID: "mia", Email: "boss@corp.io", DisplayName: "Mia"})},
		{name: "name too long", given: given, when: reregister(Actor{UserID: "mia", Email: "mia@example.com", DisplayName: strings.Repeat("n", 101)}),
			err: CodeInvalidInput},
		{name: "someone else", given: given, when: reregister(Actor{UserID: "eve", Email: "mia@example.com", DisplayName: "Mia"}), err: CodeForbidden},
	})
}

func TestUserQueries(t *testing.T) {
	t.Parallel()
	u, err := LoadUser([]Event{
		UserRegistered{UserID: "mia", Email: "mia@example.com", DisplayName: "Mia", At: t0},
		UserProfileUpdated{UserID: "mia", Email: "Mia.K@example.com", DisplayName: "Mia K.", At: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID() != "mia" || u.Email() != "Mia.K@example.com" || u.DisplayName() != "Mia K." || u.Handle() != "mia.k" ||
		!u.RegisteredAt().Equal(t0) || u.Version() != 2 {
		t.Fatalf("unexpected state: %+v", u.state)
	}
	_, err = LoadUser(nil)
	mustCode(t, err, CodeNotFound)
	if _, err := LoadUser([]Event{UserProfileUpdated{UserID: "mia"}}); err == nil {
		t.Fatal("a stream must start with user.registered")
	}
}
