package eventstore

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the store's Prometheus instruments. A nil *Metrics records nothing.
type Metrics struct {
	appendSeconds *prometheus.HistogramVec
	appends       *prometheus.CounterVec
	events        prometheus.Counter
	groupAppends  prometheus.Histogram
}

// NewMetrics creates the instruments and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		appendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskforge_eventstore_append_duration_seconds",
			Help:    "Latency of event store appends, by outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_eventstore_appends_total",
			Help: "Event store appends by outcome: ok, replayed, conflict, invalid, error.",
		}, []string{"outcome"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "taskforge_eventstore_events_appended_total",
			Help: "Events written by appends (replays excluded).",
		}),
		groupAppends: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "taskforge_eventstore_group_appends",
			Help:    "Appends per group commit (EVENTSTORE_GROUP_COMMIT): how many shared one transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
		}),
	}
	reg.MustRegister(m.appendSeconds, m.appends, m.events, m.groupAppends)
	return m
}

func (m *Metrics) observeAppend(start time.Time, res AppendResult, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	switch {
	case errors.Is(err, ErrConcurrency):
		outcome = "conflict"
	case errors.Is(err, ErrInvalidAppend):
		outcome = "invalid"
	case err != nil:
		outcome = "error"
	case res.Replayed:
		outcome = "replayed"
	default:
		m.events.Add(float64(len(res.Events)))
	}
	m.appends.WithLabelValues(outcome).Inc()
	m.appendSeconds.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
}

func (m *Metrics) observeGroup(appends int) {
	if m == nil {
		return
	}
	m.groupAppends.Observe(float64(appends))
}
