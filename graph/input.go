package graph

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
)

// readUnknownLength reads a body sent without a Content-Length (chunked) through its size limit,
// so that an oversized one gets 413 like one that declared its length; gqlgen would report the
// limit as a read error with status 200. It writes the 413 and returns false when over the limit.
func readUnknownLength(w http.ResponseWriter, r *http.Request, limit int64) bool {
	if r.ContentLength >= 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "request body too large")
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "could not read the request body")
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return true
}

// withoutBody replaces gqlgen's transport messages that quote the request body (a decode error
// appends "body:" and the whole body) with ones that do not: a body may hold secrets, and
// reflecting it back helps no one. Other parse and validation messages may quote a value
// ("\"GOD…\" is not a valid Role"): they are cut to maxClientMessage bytes.
func withoutBody(msg string) string {
	switch {
	case strings.HasPrefix(msg, "json request body could not be decoded"):
		return "the request body is not valid JSON"
	case strings.HasPrefix(msg, "could not read request body"):
		return "could not read the request body"
	}
	if len(msg) > maxClientMessage {
		cut := maxClientMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		return msg[:cut] + "…"
	}
	return msg
}

// maxClientMessage bounds the parse and validation messages echoed to clients.
const maxClientMessage = 300

// argumentField names an argument from an error's path: [createTask input dueDate] is
// "input.dueDate" (the operation's field is left out), [taskAt at] is "at".
func argumentField(path ast.Path) string {
	if len(path) < 2 {
		return ""
	}
	var b strings.Builder
	for _, el := range path[1:] {
		switch el := el.(type) {
		case ast.PathName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(el))
		case ast.PathIndex:
			b.WriteString("[" + strconv.Itoa(int(el)) + "]")
		}
	}
	return b.String()
}
