package app

import (
	"net/http"

	"github.com/rs/cors"

	"github.com/taskforge/taskforge/internal/config"
)

// corsMaxAge is how long, in seconds, a browser may reuse a preflight's answer (Chromium caps
// it at 2 hours; 10 minutes lets a changed CORS_ORIGINS take effect soon).
const corsMaxAge = 600

// withCORS lets pages of the configured origins call the API from a browser: preflights
// (OPTIONS with Access-Control-Request-Method) are answered 204 for them, and their responses
// expose the rate-limit, request-id and consistency headers. Other origins get no CORS headers,
// so the browser keeps their pages from reading responses. With no origins, h is unchanged.
//
// github.com/rs/cors (MIT, maintained, no dependencies) rather than a hand-written one: preflight
// details (Vary on the request headers, case-insensitive header lists, 204 with no body) are
// easy to get subtly wrong.
func withCORS(c config.CORS, h http.Handler) http.Handler {
	if len(c.Origins) == 0 {
		return h
	}
	return cors.New(cors.Options{
		AllowedOrigins: c.Origins, // exact origins (config refuses wildcards)
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "X-Request-Id",
			"X-Correlation-Id", "X-Consistency-Token"},
		ExposedHeaders: []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After",
			"X-Request-Id", "X-Consistency-Token"},
		// Pages may send the Authorization header, and cookies should a deployment's proxy use
		// them: only the listed origins, never "*".
		AllowCredentials: true,
		MaxAge:           corsMaxAge,
	}).Handler(h)
}
