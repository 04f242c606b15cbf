package sideeffects

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/taskforge/taskforge/domain"
)

// UnsubscribePath is where the API serves the one-click unsubscribe of email links (graph mounts
// it; RFC 8058).
const UnsubscribePath = "/email/unsubscribe"

// UnsubscribeAll in a token turns every kind of notification email off.
const UnsubscribeAll = "all"

// EmailKindInvited is the invitation email's kind (email_outbox.kind): sent to an address, not a
// user, and not a notification of domain's rule.
const EmailKindInvited = "invited"

// emailLinks builds the links emails carry: to the app (AppURL), and the unsubscribe link on the
// API (APIURL, signed with Key). An empty base leaves its links out.
type emailLinks struct {
	appURL, apiURL string
	key            []byte
}

func (l emailLinks) task(workspaceID uuid.UUID, key string) string {
	if l.appURL == "" || key == "" {
		return ""
	}
	return l.appURL + "/workspaces/" + workspaceID.String() + "/tasks/" + url.PathEscape(key)
}

func (l emailLinks) invitation(workspaceID, invitationID uuid.UUID) string {
	if l.appURL == "" {
		return ""
	}
	return l.appURL + "/invitations/" + workspaceID.String() + "/" + invitationID.String()
}

// unsubscribe is the one-click URL that turns user's emails of kind off, or "".
func (l emailLinks) unsubscribe(user, kind string) string {
	if l.apiURL == "" || len(l.key) == 0 || user == "" {
		return ""
	}
	return l.apiURL + UnsubscribePath + "?token=" + UnsubscribeToken(l.key, user, kind)
}

// UnsubscribeToken signs (user, kind): base64url(user) "." kind "." base64url(HMAC-SHA256). It
// does not expire, as links in old emails must keep working (RFC 8058 asks for a lasting
// URL); it only ever turns emails off, so a leaked one can do no more than that.
func UnsubscribeToken(key []byte, user, kind string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + kind
	return payload + "." + base64.RawURLEncoding.EncodeToString(linkMAC(key, payload))
}

// ErrBadUnsubscribeToken is a token that was not signed with the key, or is malformed.
var ErrBadUnsubscribeToken = errors.New("not a valid unsubscribe link")

// ParseUnsubscribeToken verifies a token and returns its user and kind (a notification kind or
// UnsubscribeAll).
func ParseUnsubscribeToken(key []byte, token string) (user, kind string, err error) {
	if len(key) == 0 || len(token) > 1024 {
		return "", "", ErrBadUnsubscribeToken
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return "", "", ErrBadUnsubscribeToken
	}
	payload, sig := token[:i], token[i+1:]
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, linkMAC(key, payload)) {
		return "", "", ErrBadUnsubscribeToken
	}
	u, kind, ok := strings.Cut(payload, ".")
	if !ok {
		return "", "", ErrBadUnsubscribeToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(u)
	if err != nil || len(raw) == 0 || (kind != UnsubscribeAll && !slices.Contains(domain.NotificationKinds(), kind)) {
		return "", "", ErrBadUnsubscribeToken
	}
	return string(raw), kind, nil
}

func linkMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("unsubscribe\x00" + payload))
	return m.Sum(nil)
}
