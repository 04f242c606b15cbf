package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// A graphql-transport-ws client for the tests, over github.com/coder/websocket (the library
// gqlgen's websocket transport uses), which also speaks the legacy graphql-ws protocol
// (subscriptions-transport-ws: start/data/stop, "ka" keep-alives).

// The websocket subprotocols the API serves.
const (
	TransportWS = "graphql-transport-ws"
	LegacyWS    = "graphql-ws"
)

// Message is one protocol message.
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// WS is an authenticated websocket connection to the API (connection_ack received). Its reader
// answers pings and routes each subscription's messages to it; Done is closed when the
// connection is gone, and Err (CloseStatus) then says why.
type WS struct {
	a      *API
	proto  string // TransportWS or LegacyWS
	conn   *websocket.Conn
	cancel context.CancelFunc
	mu     sync.Mutex
	subs   map[string]chan Message
	n      int
	closed chan struct{} // the reader stopped: the connection is gone
	err    error         // why the reader stopped, read after <-closed
}

// WSOptions choose how DialWS connects.
type WSOptions struct {
	// Protocol is the websocket subprotocol (default TransportWS).
	Protocol string
	// Header sends the token in the upgrade request's Authorization header and an empty
	// connection_init payload, instead of connection_init's authorization.
	Header bool
}

// DialWS opens a websocket to the API and authenticates with tok (none when empty) as o says.
// It returns once the server acknowledged connection_init; the connection closes at the test's
// cleanup. An error is the dial's, or the close that refused the connection (see CloseStatus).
func (a *API) DialWS(tok string, o WSOptions) (*WS, error) {
	if o.Protocol == "" {
		o.Protocol = TransportWS
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := http.Header{}
	payload := map[string]any{}
	if o.Header {
		h.Set("Authorization", "Bearer "+tok)
	} else if tok != "" {
		payload["authorization"] = "Bearer " + tok
	}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.GraphQL, "http"), &websocket.DialOptions{
		Subprotocols: []string{o.Protocol}, HTTPHeader: h,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	if conn.Subprotocol() != o.Protocol {
		cancel()
		_ = conn.CloseNow()
		return nil, fmt.Errorf("the server chose subprotocol %q, not %q", conn.Subprotocol(), o.Protocol)
	}
	c := &WS{a: a, proto: o.Protocol, conn: conn, cancel: cancel, subs: map[string]chan Message{}, closed: make(chan struct{})}
	a.T.Cleanup(c.Close)
	init, _ := json.Marshal(payload)
	if err := c.Send(Message{Type: "connection_init", Payload: init}); err != nil {
		return nil, err
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	var ack Message
	if err := c.read(rctx, &ack); err != nil {
		return nil, err
	}
	if ack.Type != "connection_ack" {
		return nil, fmt.Errorf("expected connection_ack, got %s", ack.Type)
	}
	go c.readLoop(ctx)
	return c, nil
}

// MustDialWS is DialWS over graphql-transport-ws with the token in connection_init, failing
// the test on an error.
func (a *API) MustDialWS(tok string) *WS {
	a.T.Helper()
	c, err := a.DialWS(tok, WSOptions{})
	if err != nil {
		a.T.Fatalf("apptest: dial websocket: %v", err)
	}
	return c
}

// CloseStatus is the close code of err (a websocket read or dial error), -1 when it is none.
func CloseStatus(err error) websocket.StatusCode { return websocket.CloseStatus(err) }

// Protocol is the connection's subprotocol.
func (c *WS) Protocol() string { return c.proto }

// Close closes the connection without a handshake.
func (c *WS) Close() {
	c.cancel()
	_ = c.conn.CloseNow()
}

// CloseWith closes the connection with code and reason, with the closing handshake (a client
// going away: websocket.StatusGoingAway).
func (c *WS) CloseWith(code websocket.StatusCode, reason string) error {
	return c.conn.Close(code, reason)
}

// Done is closed when the connection is gone.
func (c *WS) Done() <-chan struct{} { return c.closed }

// Err is why the connection is gone (nil before Done is closed).
func (c *WS) Err() error {
	select {
	case <-c.closed:
		return c.err
	default:
		return nil
	}
}

// CloseStatus is the code the connection was closed with (-1 while open, or when it ended
// without a close frame).
func (c *WS) CloseStatus() websocket.StatusCode { return websocket.CloseStatus(c.Err()) }

// Send writes one message.
func (c *WS) Send(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

func (c *WS) read(ctx context.Context, m *Message) error {
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, m)
}

// readLoop answers pings and routes messages to their subscription.
func (c *WS) readLoop(ctx context.Context) {
	defer close(c.closed)
	for {
		var m Message
		if err := c.read(ctx, &m); err != nil {
			c.err = err // read after <-c.closed
			return
		}
		switch m.Type {
		case "ping":
			_ = c.Send(Message{Type: "pong"})
		case "next", "data", "error", "complete":
			c.mu.Lock()
			ch := c.subs[m.ID]
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

// Sub is one subscription of a WS.
type Sub struct {
	c  *WS
	ID string
	ch chan Message
}

// Subscribe starts a subscription ("subscribe", "start" in graphql-ws) with the next id ("1",
// "2", …), failing the test if it cannot be sent.
func (c *WS) Subscribe(query string, vars map[string]any) *Sub {
	c.a.T.Helper()
	c.mu.Lock()
	c.n++
	id := strconv.Itoa(c.n)
	ch := make(chan Message, 1024)
	c.subs[id] = ch
	c.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	start := "subscribe"
	if c.proto == LegacyWS {
		start = "start"
	}
	if err := c.Send(Message{ID: id, Type: start, Payload: payload}); err != nil {
		c.a.T.Fatalf("apptest: subscribe: %v", err)
	}
	return &Sub{c: c, ID: id, ch: ch}
}

// Stop ends the subscription from the client ("complete", "stop" in graphql-ws).
func (s *Sub) Stop() {
	s.c.a.T.Helper()
	stop := "complete"
	if s.c.proto == LegacyWS {
		stop = "stop"
	}
	if err := s.c.Send(Message{ID: s.ID, Type: stop}); err != nil {
		s.c.a.T.Fatalf("apptest: stop subscription %s: %v", s.ID, err)
	}
}

// Receive returns the subscription's next message ("next", "data", "error" or "complete"), or
// ctx's error.
func (s *Sub) Receive(ctx context.Context) (Message, error) {
	select {
	case m := <-s.ch:
		return m, nil
	case <-ctx.Done():
		return Message{}, fmt.Errorf("subscription %s: %w", s.ID, ctx.Err())
	}
}

// MessageWait bounds how long Data and Refusal wait for a message: as long as a read waits for
// its consistency token (app tests' ConsistencyWait), since a live message is sent once the read
// models have applied its event, which under make test's parallel -race packages on 2 cores has
// taken more than 10 s. A subscription that stalls still fails.
const MessageWait = 30 * time.Second

// Next returns the subscription's next message, failing the test after timeout.
func (s *Sub) Next(timeout time.Duration) Message {
	s.c.a.T.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(timeout):
		s.c.a.T.Fatalf("subscription %s: no message within %s", s.ID, timeout)
		return Message{}
	}
}

// Data waits (MessageWait) for a "next" message ("data" in graphql-ws) without errors and decodes its
// one field into out.
func (s *Sub) Data(out any) {
	t := s.c.a.T
	t.Helper()
	m := s.Next(MessageWait)
	want := "next"
	if s.c.proto == LegacyWS {
		want = "data"
	}
	if m.Type != want {
		t.Fatalf("subscription %s: got %s, want %s: %s", s.ID, m.Type, want, m.Payload)
	}
	var r Response
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatalf("subscription %s: decode %s: %v", s.ID, m.Payload, err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("subscription %s: errors: %+v", s.ID, r.Errors)
	}
	for _, v := range r.Data {
		if err := json.Unmarshal(v, out); err != nil {
			t.Fatalf("subscription %s: decode %s: %v", s.ID, v, err)
		}
	}
}

// Quiet checks that no message arrives for d.
func (s *Sub) Quiet(d time.Duration) {
	s.c.a.T.Helper()
	select {
	case m := <-s.ch:
		s.c.a.T.Fatalf("subscription %s: unexpected %s %s", s.ID, m.Type, m.Payload)
	case <-time.After(d):
	}
}

// Refusal waits for the subscription's refusal (an "error" message, or a "next" ("data")
// carrying errors and no data, then "complete") and returns its first error's code.
func (s *Sub) Refusal() string {
	t := s.c.a.T
	t.Helper()
	m := s.Next(MessageWait)
	switch m.Type {
	case "error":
		var errs []Error
		if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
			t.Fatalf("subscription %s: an error message without errors: %s (%v)", s.ID, m.Payload, err)
		}
		c, _ := errs[0].Extensions["code"].(string)
		return c
	case "next", "data":
		var r Response
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			t.Fatalf("subscription %s: decode %s: %v", s.ID, m.Payload, err)
		}
		for _, v := range r.Data {
			if string(v) != "null" {
				t.Fatalf("subscription %s: a refused subscription carries no data, got %s", s.ID, v)
			}
		}
		if m := s.Next(5 * time.Second); m.Type != "complete" {
			t.Fatalf("subscription %s: a refused subscription ends, got %s", s.ID, m.Type)
		}
		if len(r.Errors) == 0 {
			t.Fatalf("subscription %s: a refusal without errors: %s", s.ID, m.Payload)
		}
		c, _ := r.Errors[0].Extensions["code"].(string)
		return c
	}
	t.Fatalf("subscription %s: expected a refusal, got %s", s.ID, m.Type)
	return ""
}

// C delivers the subscription's messages, for a test that selects on them with other events.
func (s *Sub) C() <-chan Message { return s.ch }
