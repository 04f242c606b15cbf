package graph

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/taskforge/taskforge/domain"
)

// GET /sync/{workspaceId}?since=…&first=… serves Query.changes over plain HTTP, for clients that
// sync without a GraphQL client (a service worker, curl): the same records, as the changes
// object of the GraphQL response ({lastPosition, hasMore, mustRefetch, mustRefetchReason,
// changes}), each entity with all its scalar fields. It runs the GraphQL handler in process, so
// authentication, tenancy, limits and rate limits are the API's own.
//
// Caching: every response has a weak ETag (of its body) and answers If-None-Match with 304. A
// page that is not the last (hasMore) covers a closed range of the log: it stays a correct
// delta forever (an entity that changed again since comes again in a later page), so it is
// cacheable for a year (private, immutable). The last page is revalidated (no-cache); a
// mustRefetch answer is never stored.

// syncDocument is the query GET /sync runs: every scalar field of each synced entity.
const syncDocument = `query Sync($ws: ID!, $since: String, $first: Int) {
  changes(workspaceId: $ws, since: $since, first: $first) {
    lastPosition hasMore mustRefetch mustRefetchReason
    changes { position entity id removed clientMutationId
      workspace { id name plan myRole memberCount updatedAt version }
      member { userId displayName email role joinedAt }
      project { id key name archived updatedAt version }
      task { id key number title description status priority assigneeId labels dueDate rank commentCount
        archived createdAt updatedAt version project { id } }
      comment { id taskId authorId authorName body mentions createdAt editedAt }
      notification { id kind taskId commentId actorId line at read }
    }
  }
}`

// syncHandler serves GET /sync/{workspaceId} through api, the GraphQL handler.
func syncHandler(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		vars := map[string]any{"ws": r.PathValue("workspaceId")}
		if s := q.Get("since"); s != "" {
			vars["since"] = s
		}
		if f := q.Get("first"); f != "" {
			n, err := strconv.Atoi(f)
			if err != nil {
				writeError(w, http.StatusBadRequest, string(domain.CodeInvalidInput), "first: not a number")
				return
			}
			vars["first"] = n
		}
		body, err := json.Marshal(map[string]any{"query": syncDocument, "variables": vars})
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, "encode the sync query")
			return
		}
		inner, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "/graphql", bytes.NewReader(body))
		if err != nil {
			writeError(w, http.StatusInternalServerError, CodeInternal, "build the sync query")
			return
		}
		inner.Header = r.Header.Clone()
		inner.Header.Set("Content-Type", "application/json")
		inner.Header.Set("Accept", "application/json")
		rec := &bufferedResponse{header: http.Header{}}
		api.ServeHTTP(rec, inner)

		var res struct {
			Data struct {
				Changes json.RawMessage `json:"changes"`
			} `json:"data"`
			Errors []struct {
				Extensions map[string]any `json:"extensions"`
			} `json:"errors"`
		}
		if rec.status >= 300 || json.Unmarshal(rec.body.Bytes(), &res) != nil || len(res.Errors) > 0 {
			status := rec.status
			if len(res.Errors) > 0 {
				code, _ := res.Errors[0].Extensions["code"].(string)
				status = syncStatus(code)
			}
			if status < 400 {
				status = http.StatusInternalServerError
			}
			for _, h := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
				if v := rec.header.Get(h); v != "" {
					w.Header().Set(h, v)
				}
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			_, _ = w.Write(rec.body.Bytes())
			return
		}
		page := res.Data.Changes
		var meta struct {
			HasMore, MustRefetch bool
		}
		_ = json.Unmarshal(page, &meta)
		sum := sha256.Sum256(page)
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("ETag", etag)
		h.Set("Vary", "Authorization")
		switch {
		case meta.MustRefetch:
			h.Set("Cache-Control", "private, no-store")
		case meta.HasMore:
			h.Set("Cache-Control", "private, max-age=31536000, immutable")
		default:
			h.Set("Cache-Control", "private, no-cache")
		}
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(page)
	})
}

// syncStatus is the HTTP status of an error code of the API.
func syncStatus(code string) int {
	switch code {
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case string(domain.CodeForbidden):
		return http.StatusForbidden
	case string(domain.CodeNotFound):
		return http.StatusNotFound
	case string(domain.CodeInvalidInput), CodeBadRequest:
		return http.StatusBadRequest
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeComplexityLimit, CodeRowLimit, CodeResponseTooBig:
		return http.StatusUnprocessableEntity
	case CodeTimeout, CodeStale:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// etagMatches is If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// bufferedResponse collects a response in memory.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
