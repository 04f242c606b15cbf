package config

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// SideEffects are the settings of webhook delivery and email notifications (package sideeffects,
// through sideeffects.OptionsFrom). Zero values take sideeffects' defaults, given here for
// reference; WEBHOOK_SECRET_KEY is Config.WebhookSecretKey.
//
//	SMTP_ADDR                       SMTP server, host:port (default none: email off, notifications
//	                                recorded as skipped)
//	SMTP_FROM                       sender address, required with SMTP_ADDR
//	SMTP_USERNAME, SMTP_PASSWORD    PLAIN auth, both or neither (TLS required unless localhost)
//	WEBHOOK_TIMEOUT                 one delivery attempt, connection to last body byte (default 10s)
//	WEBHOOK_MAX_ATTEMPTS            attempts before a dead letter (default 8)
//	WEBHOOK_WORKERS                 deliveries at once in the process (default 16)
//	WEBHOOK_PER_ENDPOINT            deliveries at once to one endpoint (default 2)
//	WEBHOOK_ALLOW_PRIVATE_NETWORKS  true or false: let webhooks reach loopback and private addresses
//	                                (default false; development only)
//	APP_URL                         the web app's absolute http(s) URL: emails link to tasks
//	                                (APP_URL/workspaces/{id}/tasks/{key}) and invitations
//	                                (APP_URL/invitations/{workspaceId}/{invitationId}); unset: no links
//	API_URL                         this API's public absolute http(s) URL (https in production):
//	                                emails carry a one-click List-Unsubscribe link to
//	                                API_URL/email/unsubscribe; unset: no unsubscribe link
type SideEffects struct {
	SMTPAddr     string
	SMTPFrom     string
	SMTPUsername string
	SMTPPassword string

	WebhookTimeout              time.Duration
	WebhookMaxAttempts          int
	WebhookWorkers              int
	WebhookPerEndpoint          int
	WebhookAllowPrivateNetworks bool

	AppURL string // without a trailing slash
	APIURL string // without a trailing slash
	// LinkKey signs the unsubscribe links of emails (HMAC-SHA256). It is derived from
	// WEBHOOK_SECRET_KEY (empty without it: no unsubscribe links), so there is no other secret
	// to manage; rotating that key invalidates the links of emails already sent.
	LinkKey []byte
}

// sideEffectsFromEnv reads SideEffects; unset values stay zero, present but invalid ones are errors.
func sideEffectsFromEnv() (SideEffects, error) {
	s := SideEffects{
		SMTPAddr:     os.Getenv("SMTP_ADDR"),
		SMTPFrom:     os.Getenv("SMTP_FROM"),
		SMTPUsername: os.Getenv("SMTP_USERNAME"),
		SMTPPassword: os.Getenv("SMTP_PASSWORD"),
	}
	var err error
	if s.AppURL, err = absoluteHTTPURL("APP_URL"); err != nil {
		return s, err
	}
	if s.APIURL, err = absoluteHTTPURL("API_URL"); err != nil {
		return s, err
	}
	if s.SMTPAddr != "" && s.SMTPFrom == "" {
		return s, errors.New("SMTP_FROM is required when SMTP_ADDR is set")
	}
	if v := os.Getenv("WEBHOOK_ALLOW_PRIVATE_NETWORKS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("WEBHOOK_ALLOW_PRIVATE_NETWORKS: want true or false, got %q", v)
		}
		s.WebhookAllowPrivateNetworks = b
	}
	if v := os.Getenv("WEBHOOK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("WEBHOOK_TIMEOUT: want a positive duration such as 10s, got %q", v)
		}
		s.WebhookTimeout = d
	}
	for _, f := range []struct {
		key string
		dst *int
	}{
		{"WEBHOOK_MAX_ATTEMPTS", &s.WebhookMaxAttempts},
		{"WEBHOOK_WORKERS", &s.WebhookWorkers},
		{"WEBHOOK_PER_ENDPOINT", &s.WebhookPerEndpoint},
	} {
		if v := os.Getenv(f.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return s, fmt.Errorf("%s: want a number from 1 to 1000, got %q", f.key, v)
			}
			*f.dst = n
		}
	}
	return s, nil
}

// absoluteHTTPURL reads an optional base URL: absolute, http or https, with a host and nothing
// after the path (no query, fragment or credentials: links are built by appending paths).
func absoluteHTTPURL(key string) (string, error) {
	v := strings.TrimSpace(os.Getenv(key))
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%s: want an absolute http(s) URL such as https://app.example.com, got %q", key, v)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// deriveLinkKey is the key that signs email links, derived from the webhook secret key so that
// one secret setting serves both, with a label that keeps the two uses apart.
func deriveLinkKey(secret []byte) []byte {
	if len(secret) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("taskforge email links v1"))
	return m.Sum(nil)
}
