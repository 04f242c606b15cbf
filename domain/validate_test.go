package domain

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func requireInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) || de.Code != CodeInvalidInput || de.Field != field {
		t.Fatalf("want INVALID_INPUT on %q, got %v", field, err)
	}
}

func TestNamesMustBeVisible(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"\u200b", "\ufeff", "\u2060", "\u200b\u200c\u200d", "\u202e\u202c", "\u2066\u2069",
		" \u00a0\u3000 ", "\u3164", "\u2800", "\ufe0f", "\u200e\u200f\u061c",
	} {
		_, err := CreateWorkspace(owner, wsID, name, PlanFree, now)
		requireInvalid(t, err, "name")
		_, err = cleanCommentBody(name)
		requireInvalid(t, err, "body")
	}
	// A token's display name is optional: one with nothing visible counts as none.
	if got, err := cleanOptionalLine("display_name", "\u200b\u2060", MaxNameLen); err != nil || got != "" {
		t.Fatalf("invisible optional name: %q, %v", got, err)
	}
	if _, err := cleanOptionalLine("display_name", "\xff", MaxNameLen); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
	// Visible text may still use format characters (an emoji ZWJ sequence, a bidi mark in RTL text).
	for _, name := range []string{"Acme", "👩\u200d💻 team", "\u05e9\u05dc\u05d5\u05dd\u200f", "café"} {
		got, err := cleanLine("name", name, MaxNameLen)
		if err != nil || got != name {
			t.Fatalf("%q: got %q, %v", name, got, err)
		}
	}
}

func TestFreeTextBoundedInBytes(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 200<<10)
	_, err := CreateWorkspace(owner, wsID, huge, PlanFree, now)
	requireInvalid(t, err, "name")
	_, err = cleanLine("title", strings.Repeat("😀", MaxTitleLen+1), MaxTitleLen)
	requireInvalid(t, err, "title")
	_, err = cleanCommentBody(huge)
	requireInvalid(t, err, "body")
	_, err = cleanCommentBody(strings.Repeat("😀", MaxCommentLen+1))
	requireInvalid(t, err, "body")
	_, err = cleanWebhook(Webhook{URL: "https://example.com/" + huge})
	requireInvalid(t, err, "url")
	requireInvalid(t, ValidateWebhookSecret(huge), "secret")
	_, err = cleanProjectKey("TF" + huge)
	requireInvalid(t, err, "key")
	requireInvalid(t, checkDescription(huge+huge), "description")
}

// FuzzCleanLine checks what every accepted line is: trimmed, valid UTF-8, within its bounds
// in characters and bytes, free of controls, visible, and accepted again unchanged.
func FuzzCleanLine(f *testing.F) {
	for _, s := range []string{"Acme", "  padded  ", "", "\u200b", "a\x00b", "\xff", "👩\u200d💻", "\u202eevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		const max = 20
		got, err := cleanLine("name", s, max)
		if err != nil {
			if CodeOf(err) != CodeInvalidInput {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		switch {
		case !utf8.ValidString(got), utf8.RuneCountInString(got) > max, len(got) > max*utf8.UTFMax:
			t.Fatalf("%q accepted as %q: out of bounds", s, got)
		case strings.ContainsFunc(got, unicode.IsControl), Invisible(got), got != strings.TrimSpace(got):
			t.Fatalf("%q accepted as %q", s, got)
		}
		if again, err := cleanLine("name", got, max); err != nil || again != got {
			t.Fatalf("%q: not stable: %q, %v", got, again, err)
		}
	})
}

// FuzzCommentBody checks the bounds of an accepted comment.
func FuzzCommentBody(f *testing.F) {
	for _, s := range []string{"hello @mia", "\n\n", "a\tb\r\nc", "\u2060", "\x07"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := cleanCommentBody(s)
		if err != nil {
			if CodeOf(err) != CodeInvalidInput {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > MaxCommentLen || Invisible(got) {
			t.Fatalf("%q accepted as %q", s, got)
		}
	})
}
