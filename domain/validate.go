package domain

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits. Text is counted in characters (runes) unless it says bytes.
const (
	MaxNameLen        = 100       // workspace, project and display names
	MaxTitleLen       = 200       // task titles
	MaxDescriptionLen = 64 * 1024 // task descriptions, in bytes
	MaxLabels         = 20
	MaxLabelLen       = 50
	MaxCommentLen     = 10000
	MaxEmailLen       = 254 // RFC 5321 path limit
	MaxUserIDLen      = 255
)

// cleanLine trims s and checks it is a single line of 1..max characters.
// Control characters are refused: they have no business in a name and NUL
// cannot be stored in PostgreSQL jsonb.
//
// Its byte bound (max characters of at most utf8.UTFMax bytes) is checked
// first, so an oversized value costs no more than its length to refuse. A
// line made only of invisible characters (zero-width spaces, bidi controls,
// BOMs) is refused like an empty one: it would look blank to every reader.
func cleanLine(field, s string, max int) (string, error) {
	if len(s) > max*utf8.UTFMax+maxPadding {
		return "", InvalidInput(field, "must be at most "+strconv.Itoa(max)+" characters")
	}
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", InvalidInput(field, "must be valid UTF-8")
	}
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", InvalidInput(field, "must not be empty")
	}
	if n > max || len(s) > max*utf8.UTFMax {
		return "", InvalidInput(field, "must be at most "+strconv.Itoa(max)+" characters")
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return "", InvalidInput(field, "must not contain control characters")
	}
	if Invisible(s) {
		return "", InvalidInput(field, "must contain visible characters")
	}
	return s, nil
}

// maxPadding is the surrounding white space a line may carry before it is
// trimmed (a pasted title with a trailing newline or two).
const maxPadding = 64

// Invisible reports whether s has no character a reader can see: it is
// empty or made only of white space, control and format characters (U+200B,
// U+FEFF, U+2060, bidi controls), default-ignorable code points (U+3164
// Hangul filler) and variation selectors.
func Invisible(s string) bool {
	for _, r := range s {
		if !invisibleRune(r) {
			return false
		}
	}
	return true
}

func invisibleRune(r rune) bool {
	return unicode.IsSpace(r) ||
		unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
		r == '\u2800' // braille blank, a common "empty name" trick
}

// checkText checks multi-line free text: valid UTF-8, no control characters
// other than tab and line breaks.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return InvalidInput(field, "must be valid UTF-8")
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	}) {
		return InvalidInput(field, "must not contain control characters")
	}
	return nil
}

// cleanEmail trims s and accepts only a bare address ("a@b.example"), not the
// "Name <a@b.example>" forms net/mail also understands.
func cleanEmail(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", InvalidInput(field, "must not be empty")
	}
	if len(s) > MaxEmailLen || !utf8.ValidString(s) {
		return "", InvalidInput(field, "is not a valid email address")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", InvalidInput(field, "is not a valid email address")
	}
	return s, nil
}

// sameEmail compares addresses case-insensitively: in practice mail systems
// treat the local part case-insensitively and users type it both ways.
func sameEmail(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

func checkUserID(field string, id UserID) error {
	s := string(id)
	if s == "" {
		return InvalidInput(field, "must not be empty")
	}
	if len(s) > MaxUserIDLen || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return InvalidInput(field, "is not a valid user id")
	}
	return nil
}

// cleanOptionalLine is cleanLine for a field that may be left empty; nothing
// visible counts as empty.
func cleanOptionalLine(field, s string, max int) (string, error) {
	if len(s) <= max*utf8.UTFMax+maxPadding && Invisible(s) {
		return "", nil
	}
	return cleanLine(field, s, max)
}
