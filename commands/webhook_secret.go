package commands

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/taskforge/taskforge/domain"
)

// errNoWebhookSecrets: without a secret store a webhook command stores nothing (fail closed).
var errNoWebhookSecrets = errors.New("commands: webhook secrets are not configured (WEBHOOK_SECRET_KEY)")

// webhookSecret returns the signing secret a command sets: the admin's own, validated, or a new
// random one when given is empty.
func webhookSecret(given string) (string, error) {
	if given != "" {
		return given, domain.ValidateWebhookSecret(given)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// checkWebhookURL refuses destinations off the public internet, unless the runtime allows them.
// Names are not resolved here: the delivery path checks each address it connects to.
func (rt *Runtime) checkWebhookURL(endpoint string) error {
	if rt.opts.AllowPrivateWebhooks {
		return nil
	}
	return domain.CheckWebhookDestination(endpoint)
}
