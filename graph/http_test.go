package graph_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/app/apptest"
	"github.com/taskforge/taskforge/graph"
	"github.com/taskforge/taskforge/graph/live"
	"github.com/taskforge/taskforge/internal/config"
)

// TestStandardIntrospection: graphql-js's getIntrospectionQuery({inputValueDeprecation: true}),
// verbatim (introspection.graphql), is served whatever the depth limit (its 13 levels are measured apart),
// while data queries keep the limit.
func TestStandardIntrospection(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) { o.MaxDepth = 2 })
	tok := token(t, "introspect-"+t.Name(), time.Hour)
	q, err := os.ReadFile("introspection.graphql")
	require.NoError(t, err)
	r := a.do(tok, string(q), nil)
	require.Empty(t, r.Errors)
	require.Contains(t, string(r.Data["__schema"]), `"queryType":{"name":"Query"}`)
	// Without a token too: the schema is no secret when introspection is on.
	r = a.do("", string(q), nil)
	require.Empty(t, r.Errors)

	r = a.do(tok, `{ workspaces { nodes { projects { nodes { id } } } } }`, nil)
	require.Equal(t, "DEPTH_LIMIT_EXCEEDED", code(t, r))

	// Its allowance grows with the schema but stops short of two copies of it.
	doc := string(q)
	start, end := strings.Index(doc, "__schema {"), strings.Index(doc, "fragment ")
	selection := doc[start:strings.LastIndex(doc[:end], "}")] // __schema { … } without the operation's brace
	twice := doc[:start] + "a: " + selection + " b: " + selection + "}\n" + doc[end:]
	r = a.do(tok, twice, nil)
	require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", code(t, r), "%v", r.Errors)
}

// get sends a GraphQL request by GET with tok (none when empty) and headers (name, value, ...).
func (a *api) get(tok string, params url.Values, headers ...string) (*http.Response, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.url+"?"+params.Encode(), nil)
	require.NoError(a.t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	var body map[string]any
	require.NoError(a.t, json.Unmarshal(b, &body), "HTTP %d: %s", resp.StatusCode, b)
	return resp, body
}

// TestGraphQLOverHTTP: a query by GET is served like one by POST — authenticated, never stored
// by shared caches, in the media type the client accepts — and a mutation by GET is refused.
func TestGraphQLOverHTTP(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "get-"+t.Name(), time.Hour)

	resp, body := a.get(tok, url.Values{"query": {`query($yes: Boolean!) { me { id @include(if: $yes) } }`}, "variables": {`{"yes": true}`}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Nil(t, body["errors"])
	require.Equal(t, "get-"+t.Name(), body["data"].(map[string]any)["me"].(map[string]any)["id"])
	require.Equal(t, "private, no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.NotEmpty(t, resp.Header.Get("X-Request-Id"))

	resp, body = a.get(tok, url.Values{"query": {`{ me { id } }`}}, "Accept", "application/graphql-response+json, application/json;q=0.9")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Nil(t, body["errors"])
	require.Equal(t, "application/graphql-response+json", resp.Header.Get("Content-Type"))

	// Authentication as by POST: a refused token is 401; no token reaches no caller's data.
	resp, _ = a.get("not-a-token", url.Values{"query": {`{ me { id } }`}})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, body = a.get("", url.Values{"query": {`{ me { id } }`}})
	require.NotNil(t, body["errors"])
	require.Nil(t, body["data"])

	// A mutation by GET: 405, nothing done.
	resp, body = a.get(tok, url.Values{"query": {`mutation { createWorkspace(input: {name: "by GET"}) { id } }`}})
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "POST", resp.Header.Get("Allow"))
	require.Contains(t, fmt.Sprint(body["errors"]), "GET requests only allow query operations")
	var ws struct{ Nodes []struct{ ID string } }
	a.ok(tok, `{ workspaces { nodes { id } } }`, nil, &ws)
	require.Empty(t, ws.Nodes)

	// A document that does not validate: 200 with errors in application/json (Apollo and other
	// clients take a 4xx for a network error), a 4xx in application/graphql-response+json.
	resp, body = a.get(tok, url.Values{"query": {`{ me { nope } }`}}, "Accept", "application/json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, fmt.Sprint(body["errors"]), "nope")
	resp, _ = a.get(tok, url.Values{"query": {`{ me { nope } }`}}, "Accept", "application/graphql-response+json")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	r := a.raw(tok, []byte(`{"query": "{ me { nope } }"}`), "Accept", "application/json")
	require.NotEmpty(t, r.Errors)
	require.Equal(t, http.StatusOK, r.Status)

	// The query string is bounded as a body is.
	resp, _ = a.get(tok, url.Values{"query": {`{ me { id } }`}, "pad": {strings.Repeat("x", 20<<10)}})
	require.Equal(t, http.StatusRequestURITooLong, resp.StatusCode)
}

// TestPersistedQueries: automatic persisted queries — an unknown hash is asked for, the query
// sent with its hash registers it, and the hash alone then serves it by GET.
func TestPersistedQueries(t *testing.T) {
	t.Parallel()
	a := setup(t)
	tok := token(t, "apq-"+t.Name(), time.Hour)
	q := `query Me { me { id } }`
	sum := sha256.Sum256([]byte(q))
	ext := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%s"}}`, hex.EncodeToString(sum[:]))

	resp, body := a.get(tok, url.Values{"extensions": {ext}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, fmt.Sprint(body["errors"]), "PersistedQueryNotFound")

	resp, body = a.get(tok, url.Values{"query": {q}, "extensions": {ext}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Nil(t, body["errors"])

	resp, body = a.get(tok, url.Values{"extensions": {ext}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Nil(t, body["errors"])
	require.Equal(t, "apq-"+t.Name(), body["data"].(map[string]any)["me"].(map[string]any)["id"])

	// A hash that is not the query's is refused.
	resp, body = a.get(tok, url.Values{"query": {`{ me { email } }`}, "extensions": {ext}})
	require.Contains(t, fmt.Sprint(body["errors"]), "provided APQ hash does not match query")
	_ = resp
}

// TestCORS: a configured origin's preflight is answered with what a browser client needs, its
// responses expose the rate-limit and consistency headers; another origin gets no CORS headers.
func TestCORS(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	a := start(t, apptest.Options{Overrides: overrides(live.HubOptions{}, nil),
		Config: func(c *config.Config) { c.CORS.Origins = []string{origin} }})

	preflight := func(from string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodOptions, a.url, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", from)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, x-consistency-token")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := preflight(origin)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	h := resp.Header
	require.Equal(t, origin, h.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"))
	require.Equal(t, "POST", h.Get("Access-Control-Allow-Methods"))
	require.Equal(t, "authorization, content-type, x-consistency-token", strings.ToLower(h.Get("Access-Control-Allow-Headers")))
	require.Equal(t, "600", h.Get("Access-Control-Max-Age"))
	require.Contains(t, h.Get("Vary"), "Origin")

	resp = preflight("https://evil.example.com")
	for k := range resp.Header {
		require.NotContains(t, k, "Access-Control-", "a disallowed origin gets no CORS headers")
	}

	// A simple request from the origin: its response exposes the headers a client reads.
	tok := token(t, "cors-"+t.Name(), time.Hour)
	resp, _ = a.get(tok, url.Values{"query": {`{ me { id } }`}}, "Origin", origin)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
	exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
	for _, e := range []string{"ratelimit-remaining", "x-request-id", "x-consistency-token"} {
		require.Contains(t, exposed, e)
	}
	resp, _ = a.get(tok, url.Values{"query": {`{ me { id } }`}}, "Origin", "https://evil.example.com")
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

// TestPlaygroundOffline: the playground page loads its scripts and styles from the API itself,
// no CDN, and each is served with its content type.
func TestPlaygroundOffline(t *testing.T) {
	t.Parallel()
	a := start(t, apptest.Options{Overrides: overrides(live.HubOptions{}, nil),
		Config: func(c *config.Config) { c.GraphQLPlayground = true }})
	fetch := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(a.srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	resp, page := fetch("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.NotContains(t, page, "http://")
	require.NotContains(t, page, "https://")
	require.Contains(t, page, "wsConnectionParams")

	want := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	require.Len(t, refs, 4) // React, ReactDOM, GraphiQL and its stylesheet
	for _, m := range refs {
		ref := m[1]
		require.True(t, strings.HasPrefix(ref, "/playground/"), ref)
		resp, body := fetch(ref)
		require.Equal(t, http.StatusOK, resp.StatusCode, ref)
		require.Equal(t, want[path.Ext(ref)], resp.Header.Get("Content-Type"), ref)
		require.NotEmpty(t, body, ref)
	}
	resp, _ = fetch("/playground/")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestGETSharesTheLimits: a query by GET is charged to the same request budget as one by POST,
// and refused 429 past it.
func TestGETSharesTheLimits(t *testing.T) {
	t.Parallel()
	a := setupOptions(t, live.HubOptions{}, func(o *graph.Options) {
		o.RateLimits = graph.RateLimits{Requests: 0.001, RequestBurst: 2}
	})
	tok := token(t, "limits-"+t.Name(), time.Hour)
	r := a.do(tok, `{ me { id } }`, nil)
	require.Empty(t, r.Errors)
	resp, _ := a.get(tok, url.Values{"query": {`{ me { id } }`}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
	resp, _ = a.get(tok, url.Values{"query": {`{ me { id } }`}})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}
