package graph

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql/handler/lru"
)

// GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): queries by GET as well as
// POST, the response in application/graphql-response+json when the client's Accept asks for it
// (gqlgen's transports negotiate it; application/json otherwise), and automatic persisted
// queries, so that a client can send a query's hash by GET and a CDN or browser could key on the
// URL. Responses depend on the caller's token, so none may be stored by a shared cache.

// cacheControl is every /graphql response's Cache-Control: the data is the caller's.
const cacheControl = "private, no-store"

// apqCacheSize bounds the automatic persisted queries kept (each at most maxCachedQuery bytes).
const apqCacheSize = 1000

// apqCache is gqlgen's LRU for persisted queries that does not keep long queries: a client that
// registers one is told PersistedQueryNotFound next time and sends the text again.
type apqCache struct {
	*lru.LRU[string]
}

func (c apqCache) Add(ctx context.Context, hash, query string) {
	if len(query) <= maxCachedQuery {
		c.LRU.Add(ctx, hash, query)
	}
}

// queryOverGET answers a mutation or subscription sent by GET with 405 and Allow: POST rather
// than gqlgen's 406 (a GET must be safe: a link or an image tag must not change data). The query
// string's length was bounded by withRequest (checkQueryString).
//
// It also keeps a legacy application/json answer to an invalid document at 200, as GraphQL over
// HTTP asks (gqlgen answers 422): Apollo Client and other clients that accept only
// application/json take any non-2xx for a network error and drop the errors' messages. With
// application/graphql-response+json the 4xx stays.
func queryOverGET(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			next.ServeHTTP(w, r)
			return
		}
		w = &legacyJSONStatus{ResponseWriter: w}
		if r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&getOnlyQueries{ResponseWriter: w}, r)
	})
}

// legacyJSONStatus turns gqlgen's 422 for a document that does not parse or validate into 200
// when the response is application/json.
type legacyJSONStatus struct {
	http.ResponseWriter
}

func (l *legacyJSONStatus) WriteHeader(code int) {
	if code == http.StatusUnprocessableEntity && !strings.HasPrefix(l.Header().Get("Content-Type"), "application/graphql-response+json") {
		code = http.StatusOK
	}
	l.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer beneath.
func (l *legacyJSONStatus) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// checkQueryString refuses a query string longer than max bytes (414), as MaxBodyBytes bounds a
// body: a GET carries its query, variables and extensions there.
func checkQueryString(w http.ResponseWriter, r *http.Request, max int) bool {
	if len(r.URL.RawQuery) <= max {
		return true
	}
	writeError(w, http.StatusRequestURITooLong, CodeBadRequest,
		fmt.Sprintf("query string longer than %d bytes: send the query by POST, or its hash (persisted queries)", max))
	return false
}

// getOnlyQueries turns gqlgen's refusal of a GET mutation (406, "GET requests only allow query
// operations", the only 406 of its GET transport) into 405 Method Not Allowed.
type getOnlyQueries struct {
	http.ResponseWriter
}

func (g *getOnlyQueries) WriteHeader(code int) {
	if code == http.StatusNotAcceptable {
		g.Header().Set("Allow", "POST")
		code = http.StatusMethodNotAllowed
	}
	g.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer beneath.
func (g *getOnlyQueries) Unwrap() http.ResponseWriter { return g.ResponseWriter }
