package commands

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskforge/taskforge/domain"
)

// Metrics are the command handlers' Prometheus instruments. A nil *Metrics
// records nothing.
type Metrics struct {
	duration *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// NewMetrics creates the instruments and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("commands: nil prometheus registerer")
	}
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskforge_command_duration_seconds",
			Help:    "Latency of command handlers, retries included, by command and outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"command", "outcome"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_commands_total",
			Help: "Commands handled, by command and outcome: ok, invalid_input, forbidden, not_found, conflict, precondition_failed, canceled, error.",
		}, []string{"command", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_command_retries_total",
			Help: "Commands decided again after a concurrency conflict, by command.",
		}, []string{"command"}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.outcomes, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(command, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.outcomes.WithLabelValues(command, outcome).Inc()
	m.duration.WithLabelValues(command, outcome).Observe(d.Seconds())
}

func (m *Metrics) retried(command string) {
	if m != nil {
		m.retries.WithLabelValues(command).Inc()
	}
}

type instrumented[C Command, R any] struct {
	next    Handler[C, R]
	log     *slog.Logger
	metrics *Metrics
}

func (h instrumented[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	start := time.Now()
	res, err := h.next.Handle(ctx, cmd)
	elapsed := time.Since(start)
	name, outcome := cmd.CommandName(), Outcome(err)
	h.metrics.observe(name, outcome, elapsed)

	req, _ := RequestFrom(ctx)
	attrs := []slog.Attr{
		slog.String("command", name),
		slog.String("actor", string(cmd.ActorID())),
		slog.String("outcome", outcome),
		slog.Duration("duration", elapsed),
		slog.String("request_id", req.RequestID),
		slog.String("correlation_id", req.CorrelationID.String()),
	}
	level := slog.LevelDebug
	switch outcome {
	case "ok":
	case "error":
		level = slog.LevelError
		attrs = append(attrs, slog.String("err", err.Error()))
	default:
		// Rejections are the caller's business; their messages are written
		// for clients and safe to log.
		level = slog.LevelInfo
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	h.log.LogAttrs(ctx, level, "command handled", attrs...)
	return res, err
}

// Outcome classifies a handler's error for metrics and logs: "ok", a domain
// code in lower case, "canceled", or "error" for internal failures.
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if code := domain.CodeOf(err); code != "" {
		return strings.ToLower(string(code))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return "error"
}
