package sideeffects_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/taskforge/taskforge/commands"
	"github.com/taskforge/taskforge/domain"
	"github.com/taskforge/taskforge/eventstore"
	"github.com/taskforge/taskforge/internal/pgtest"
	"github.com/taskforge/taskforge/internal/promtest"
	"github.com/taskforge/taskforge/internal/webhooksecrets"
	"github.com/taskforge/taskforge/sideeffects"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m, "sideeffects")) }

var (
	owner  = domain.Actor{UserID: "olga", Email: "olga@example.com", EmailVerified: true, DisplayName: "Olga"}
	admin  = domain.Actor{UserID: "adam", Email: "adam@example.com", EmailVerified: true, DisplayName: "Adam"}
	member = domain.Actor{UserID: "mia", Email: "mia@example.com", EmailVerified: true, DisplayName: "Mia"}
	other  = domain.Actor{UserID: "max", Email: "max@example.com", EmailVerified: true, DisplayName: "Max"}
)

const secret = "s3cret-s3cret-s3cret"

// fixture is a database of its own (the consumer reads the whole global log), the command
// handlers that write real events to it, and a running Runner.
type fixture struct {
	t         *testing.T
	ctx       context.Context
	pool      *pgxpool.Pool
	store     *eventstore.Store
	notifier  *eventstore.Notifier
	h         *commands.Handlers
	inspector *sideeffects.Inspector
	reg       *domain.Registry
	opts      sideeffects.Options
	metrics   *prometheus.Registry // the running Runner's
	stop      func()               // stops the runner and waits for Run to return
}

// start runs a new Runner (the consumer resumes from its checkpoint), with fresh metrics.
func (f *fixture) start() {
	f.t.Helper()
	f.metrics = prometheus.NewRegistry()
	opts := f.opts
	opts.Metrics = f.metrics
	runner, err := sideeffects.NewRunner(f.pool, f.store, f.reg, opts)
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runner.Run(ctx); err != nil {
			f.t.Errorf("runner: %v", err)
		}
	}()
	f.stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
}

// setup starts a Runner with fast retries; configure adjusts its options.
func setup(t *testing.T, configure func(*sideeffects.Options)) *fixture {
	t.Helper()
	pool := pgtest.Open(t, pgtest.NewDatabase(t))
	notifier := eventstore.NewNotifier(pool, nil)
	store, err := eventstore.New(pool, eventstore.Options{Upcasters: commands.Upcasters(), OnCommit: notifier.Wake})
	require.NoError(t, err)
	reg := domain.NewRegistry()
	secrets, err := webhooksecrets.New(pool, bytes.Repeat([]byte{7}, webhooksecrets.KeySize))
	require.NoError(t, err)
	// Registration accepts the receivers' 127.0.0.1 URLs; delivery decides per test (below).
	rt, err := commands.NewRuntime(store, reg, commands.Options{WebhookSecrets: secrets, AllowPrivateWebhooks: true})
	require.NoError(t, err)
	h, err := commands.NewHandlers(rt, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	opts := sideeffects.Options{
		Notifier:     notifier,
		PollInterval: 50 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Webhooks: sideeffects.WebhookOptions{
			RetryPolicy: sideeffects.RetryPolicy{MaxAttempts: 4, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond},
			Timeout:     10 * time.Second,
			// The receivers are httptest servers on 127.0.0.1.
			AllowPrivateNetworks: true,
			Secrets:              secrets,
		},
		Email: sideeffects.EmailOptions{
			RetryPolicy: sideeffects.RetryPolicy{MaxAttempts: 4, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond},
			Timeout:     10 * time.Second,
		},
	}
	if configure != nil {
		configure(&opts)
	}
	inspector, err := sideeffects.NewInspector(pool)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = notifier.Run(ctx) }()
	f := &fixture{t: t, ctx: context.Background(), pool: pool, store: store, notifier: notifier, h: h,
		inspector: inspector, reg: reg, opts: opts}
	// Registered after pgtest's cleanups, so it runs first: the runner and the notifier stop before
	// the pool closes.
	t.Cleanup(func() {
		f.stop()
		cancel()
		<-done
	})
	f.start()
	// Events recorded before the consumer's first start are not delivered: wait for it.
	f.eventually("consumer started", func() bool {
		_, err := inspector.Consumer(f.ctx)
		return err == nil
	})
	return f
}

// eventually polls cond until it holds or 20 seconds pass.
func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// board is a workspace with an owner, an admin and two members, and a project TF.
type board struct{ ws, project uuid.UUID }

func (f *fixture) board() board {
	f.t.Helper()
	ws, err := f.h.CreateWorkspace.Handle(f.ctx, commands.CreateWorkspace{Actor: owner, Name: "Acme"})
	require.NoError(f.t, err)
	for _, c := range []struct {
		a    domain.Actor
		role domain.Role
	}{{admin, domain.RoleAdmin}, {member, domain.RoleMember}, {other, domain.RoleMember}} {
		inv, err := f.h.InviteMember.Handle(f.ctx, commands.InviteMember{Actor: owner, WorkspaceID: ws.ID, Email: c.a.Email, Role: c.role})
		require.NoError(f.t, err)
		_, err = f.h.AcceptInvitation.Handle(f.ctx, commands.AcceptInvitation{Actor: c.a, WorkspaceID: ws.ID, InvitationID: inv.InvitationID})
		require.NoError(f.t, err)
	}
	p, err := f.h.CreateProject.Handle(f.ctx, commands.CreateProject{Actor: member, WorkspaceID: ws.ID, Name: "Forge", Key: "TF"})
	require.NoError(f.t, err)
	return board{ws: ws.ID, project: p.ID}
}

// notices lists a workspace's emails but invitations.
func (f *fixture) notices(ws uuid.UUID, status string) []sideeffects.Email {
	f.t.Helper()
	all, err := f.inspector.ListEmails(f.ctx, ws, sideeffects.Page{Status: status})
	require.NoError(f.t, err)
	var out []sideeffects.Email
	for _, e := range all {
		if e.Kind != sideeffects.EmailKindInvited {
			out = append(out, e)
		}
	}
	return out
}

func (f *fixture) webhook(ws uuid.UUID, url string, types ...string) uuid.UUID {
	f.t.Helper()
	res, err := f.h.RegisterWebhook.Handle(f.ctx, commands.RegisterWebhook{Actor: admin, WorkspaceID: ws, URL: url, Secret: secret, EventTypes: types})
	require.NoError(f.t, err)
	return res.WebhookID
}

func (f *fixture) task(b board, title string, assignee domain.UserID) uuid.UUID {
	f.t.Helper()
	res, err := f.h.CreateTask.Handle(f.ctx, commands.CreateTask{Actor: member, ProjectID: b.project, Title: title, Assignee: assignee})
	require.NoError(f.t, err)
	return res.ID
}

// deliveries returns a workspace's deliveries by id.
func (f *fixture) deliveries(ws uuid.UUID) []sideeffects.Delivery {
	f.t.Helper()
	ds, err := f.inspector.ListDeliveries(f.ctx, ws, sideeffects.Page{Limit: 1000})
	require.NoError(f.t, err)
	return ds
}

func (f *fixture) allIn(ws uuid.UUID, webhook uuid.UUID, status string, want int) func() bool {
	return func() bool {
		n := 0
		for _, d := range f.deliveries(ws) {
			if d.WebhookID != webhook {
				continue
			}
			if d.Status != status {
				return false
			}
			n++
		}
		return n == want
	}
}

// counter sums a counter of the runner's metrics over the series matching labels.
func (f *fixture) counter(name string, labels map[string]string) float64 {
	f.t.Helper()
	return promtest.CounterSum(f.t, f.metrics, name, labels)
}

// request is one webhook request as a receiver saw it.
type request struct {
	key, eventType string
	status         int
	signatureOK    bool
	payload        sideeffects.WebhookPayload
}

// receiver is a real HTTP server that checks signatures and answers what respond says.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(attempt int, r *http.Request) int // attempt: 1-based count of this key's requests
}

func newReceiver(t *testing.T, respond func(attempt int, r *http.Request) int) *receiver {
	rc := &receiver{t: t, respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	// Verify as a receiver would, independently of sideeffects.Sign.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(r.Header.Get("X-Taskforge-Timestamp") + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	req := request{
		key:         r.Header.Get("Idempotency-Key"),
		eventType:   r.Header.Get("X-Taskforge-Event-Type"),
		signatureOK: hmac.Equal([]byte(want), []byte(r.Header.Get("X-Taskforge-Signature"))),
	}
	if err := json.Unmarshal(body, &req.payload); err != nil || req.payload.ID.String() != req.key ||
		r.Header.Get("X-Taskforge-Event-Id") != req.key {
		req.signatureOK = false
	}
	rc.mu.Lock()
	attempt := 1
	for _, p := range rc.reqs {
		if p.key == req.key {
			attempt++
		}
	}
	rc.mu.Unlock()
	req.status = rc.respond(attempt, r)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()
	w.WriteHeader(req.status)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// succeeded counts 2xx responses per idempotency key.
func (rc *receiver) succeeded() map[string]int {
	out := map[string]int{}
	for _, r := range rc.requests() {
		if r.status >= 200 && r.status < 300 {
			out[r.key]++
		}
	}
	return out
}

// mailbox is a real SMTP server (emersion/go-smtp) on a loopback port that keeps what it accepts.
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []message
	// reject, when set, may refuse a recipient (attempt counts RCPTs for that address, from 1).
	reject func(to string, attempt int) error
	rcpts  map[string]int
}

type message struct {
	from string
	to   []string
	msg  *mail.Message
	body string
}

func newMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{rcpts: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = discardLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mb.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb
}

func (mb *mailbox) messages() []message {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]message(nil), mb.msgs...)
}

// notices are the messages but invitations (board sends one to each member it invites).
func (mb *mailbox) notices() []message {
	var out []message
	for _, m := range mb.messages() {
		if m.msg.Header.Get("X-Taskforge-Notification") != sideeffects.EmailKindInvited {
			out = append(out, m)
		}
	}
	return out
}

// arm sets reject from now on, counting attempts afresh.
func (mb *mailbox) arm(reject func(to string, attempt int) error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.reject, mb.rcpts = reject, map[string]int{}
}

type session struct {
	mb   *mailbox
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mb.mu.Lock()
	s.mb.rcpts[to]++
	attempt := s.mb.rcpts[to]
	reject := s.mb.reject
	s.mb.mu.Unlock()
	if reject != nil {
		if err := reject(to, attempt); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return errors.New("unparseable message")
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, message{from: s.from, to: s.to, msg: m, body: string(body)})
	s.mb.mu.Unlock()
	return nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
