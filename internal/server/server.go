// Package server owns the HTTP surface of `taskforge serve`: the public listener with health and
// readiness endpoints (and the GraphQL API added to it), the separate operational listener with
// the metrics, and their graceful shutdown. Metrics are not on the public port: they describe
// every tenant's traffic and the database's internals.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Pinger checks a dependency for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server is the HTTP server.
type Server struct {
	log  *slog.Logger
	srv  *http.Server
	db   Pinger
	mux  *http.ServeMux
	addr string
	name string // in the logs: http or metrics

	checks []check
}

// check is a readiness check beside the database's (AddCheck).
type check struct {
	name string
	fn   func(ctx context.Context) error
}

// AddCheck adds a readiness check: while fn returns an error, /readyz answers 503 with the
// error's text under name. Call it before Run.
func (s *Server) AddCheck(name string, fn func(ctx context.Context) error) {
	s.checks = append(s.checks, check{name: name, fn: fn})
}

// New builds the public server, with /healthz and /readyz; Handle adds more routes before Run.
func New(addr string, log *slog.Logger, db Pinger) *Server {
	s := newServer("http", addr, log)
	s.db = db
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// NewMetrics builds the operational server, with /metrics from reg. Its address (METRICS_ADDR)
// defaults to loopback: whoever scrapes it runs beside the process or reaches it through the
// platform's network, not through the public port.
func NewMetrics(addr string, log *slog.Logger, reg *prometheus.Registry) *Server {
	s := newServer("metrics", addr, log)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

func newServer(name, addr string, log *slog.Logger) *Server {
	s := &Server{log: log, mux: http.NewServeMux(), addr: addr, name: name}
	s.srv = &http.Server{
		Addr:              addr,
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return s
}

// Handler is the server's routes, for a test's own listener (httptest).
func (s *Server) Handler() http.Handler { return s.mux }

// Handle registers an extra route.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Run serves until ctx is cancelled, then stops accepting and lets in-flight requests finish
// within shutdownTimeout. ready, if not nil, receives the bound address once listening.
func (s *Server) Run(ctx context.Context, shutdownTimeout time.Duration, ready chan<- string) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.log.Info(s.name+" listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down "+s.name, "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz reports ready only while the database answers, so a load balancer stops sending traffic
// to an instance that lost it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
		return
	}
	body := map[string]string{"status": "ready", "database": "ok"}
	status := http.StatusOK
	for _, c := range s.checks {
		if err := c.fn(ctx); err != nil {
			body[c.name], body["status"], status = err.Error(), "degraded", http.StatusServiceUnavailable
			s.log.Warn("readiness check failed", "check", c.name, "err", err)
			continue
		}
		body[c.name] = "ok"
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
