package sideeffects_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/sideeffects"
)

// By default a webhook cannot reach the service's own network: an endpoint on 127.0.0.1 gets no
// request, and the delivery ends in dead letters saying why.
func TestWebhookToAPrivateAddressIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *sideeffects.Options) { o.Webhooks.AllowPrivateNetworks = false })
	b := f.board()
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusOK })
	hook := f.webhook(b.ws, rc.srv.URL, domain.EventTaskCreated)
	f.task(b, "internal", "")

	f.eventually("dead letter", f.allIn(b.ws, hook, "dead", 1))
	require.Empty(t, rc.requests(), "nothing reached the private address")
	page, err := f.inspector.ListDeadLetters(f.ctx, sideeffects.DeadLetterQuery{})
	require.NoError(t, err)
	dead := page.Items
	require.Len(t, dead, 1)
	// A short, fixed text: never the address a name resolved to.
	require.Equal(t, "connect refused: private address", dead[0].LastError)
	require.NotContains(t, dead[0].LastError, "127.0.0.1")
}
