package graph

import (
	"html/template"
	"log/slog"
	"net/http"

	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/projections"
	"github.com/taskforge/taskforge/sideeffects"
)

// unsubscribe serves the links of notification emails (sideeffects.UnsubscribePath?token=…):
//
//   - POST turns the token's kind of email off for its user (all kinds for UnsubscribeAll) and
//     answers 200: RFC 8058's one-click (a mail client POSTs List-Unsubscribe=One-Click), and the
//     confirmation page's button. Idempotent: a second POST changes nothing and answers the same.
//   - GET changes nothing (mail scanners and link previews fetch links): it answers a page whose
//     button POSTs.
//
// The token is the authorization (an HMAC over the user and kind, sideeffects.UnsubscribeToken):
// no session, no CORS (the one-click POST comes from mail providers' servers).
func unsubscribe(q *projections.Queries, key []byte, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		token := r.URL.Query().Get("token")
		user, kind, err := sideeffects.ParseUnsubscribeToken(key, token)
		if err != nil {
			http.Error(w, "This unsubscribe link is not valid.", http.StatusBadRequest)
			return
		}
		what := kind + " notification"
		if kind == sideeffects.UnsubscribeAll {
			what = "notification"
		}
		page := unsubscribePage{What: what, Token: token}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<10) // List-Unsubscribe=One-Click, or the form's empty body
			kinds := []string{kind}
			if kind == sideeffects.UnsubscribeAll {
				kinds = domain.NotificationKinds()
			}
			prefs := make([]projections.NotificationPreference, len(kinds))
			for i, k := range kinds {
				prefs[i] = projections.NotificationPreference{Kind: k, Email: false}
			}
			if err := q.SetNotificationPreferences(r.Context(), user, prefs); err != nil {
				log.ErrorContext(r.Context(), "unsubscribe", "err", err)
				http.Error(w, "Something went wrong; please try again.", http.StatusInternalServerError)
				return
			}
			page.Done = true
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = unsubscribeTemplate.Execute(w, page)
	})
}

type unsubscribePage struct {
	What, Token string
	Done        bool
}

var unsubscribeTemplate = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>Taskforge emails</title></head>
<body>{{if .Done}}<p>You will no longer receive {{.What}} emails from Taskforge. You can turn them back on in your notification preferences.</p>
{{else}}<form method="post" action="?token={{.Token}}"><p>Stop receiving {{.What}} emails from Taskforge?</p><button type="submit">Unsubscribe</button></form>
{{end}}</body></html>
`))
