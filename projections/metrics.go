package projections

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskforge/taskforge/eventstore"
)

// Metrics are the projections' Prometheus instruments. A nil *Metrics records nothing.
type Metrics struct {
	handled     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	failures    *prometheus.CounterVec
	lagEvents   *prometheus.GaugeVec
	lagSeconds  *prometheus.GaugeVec
	failedState *prometheus.GaugeVec
	pending     *prometheus.GaugeVec
	horizonWait prometheus.Gauge
	holderAge   prometheus.Gauge
	refusals    *prometheus.CounterVec
}

// NewMetrics creates the instruments and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_projection_events_handled_total",
			Help: "Events applied (or acknowledged as already applied) by each projection.",
		}, []string{"projection"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskforge_projection_handler_duration_seconds",
			Help:    "Time to apply one event and commit it with the checkpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"projection"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_projection_failures_total",
			Help: "Failed attempts to apply an event, by projection and outcome (retry, parked, failed).",
		}, []string{"projection", "outcome"}),
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskforge_projection_lag_events",
			Help: "Committed events the projection has not applied yet (readable or held behind the read horizon).",
		}, []string{"projection"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskforge_projection_lag_seconds",
			Help: "Age of the oldest event the projection has not applied yet (0 when caught up).",
		}, []string{"projection"}),
		failedState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskforge_projection_failed",
			Help: "1 while the projection is stopped on a poison event.",
		}, []string{"projection"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "taskforge_projection_pending_events",
			Help: "Of the projection's lag, the events held behind the read horizon (committed, not yet readable).",
		}, []string{"projection"}),
		horizonWait: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "taskforge_event_horizon_wait_seconds",
			Help: "How long the oldest committed event readers cannot see yet has waited behind the read horizon (0: none).",
		}),
		holderAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "taskforge_event_horizon_holder_age_seconds",
			Help: "Age of the oldest transaction holding an xid anywhere in the cluster (it holds the read horizon).",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_projection_checkpoint_refusals_total",
			Help: "Checkpoint advances refused and rolled back, by projection and reason (moved: another worker applied the event first, a redelivery or a gap; inactive: a version swap; failed).",
		}, []string{"projection", "reason"}),
	}
	reg.MustRegister(m.handled, m.duration, m.failures, m.lagEvents, m.lagSeconds, m.failedState, m.pending, m.horizonWait, m.holderAge,
		m.refusals)
	return m
}

func (m *Metrics) observeHandled(name string, start time.Time) {
	if m == nil {
		return
	}
	m.handled.WithLabelValues(name).Inc()
	m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
}

func (m *Metrics) observeFailure(name, outcome string) {
	if m == nil {
		return
	}
	m.failures.WithLabelValues(name, outcome).Inc()
}

func (m *Metrics) observeRefusal(name, reason string) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(name, reason).Inc()
}

func (m *Metrics) observeStatus(sts []Status) {
	if m == nil {
		return
	}
	for _, s := range sts {
		m.lagEvents.WithLabelValues(s.Name).Set(float64(s.LagEvents))
		m.pending.WithLabelValues(s.Name).Set(float64(s.PendingEvents))
		m.lagSeconds.WithLabelValues(s.Name).Set(s.LagSeconds)
		failed := 0.0
		if s.State == StateFailed {
			failed = 1
		}
		m.failedState.WithLabelValues(s.Name).Set(failed)
	}
}

func (m *Metrics) observeHorizon(h eventstore.Horizon) {
	if m == nil {
		return
	}
	wait := 0.0
	if h.Pending > 0 && !h.OldestPendingAt.IsZero() {
		wait = max(time.Since(h.OldestPendingAt).Seconds(), 0)
	}
	m.horizonWait.Set(wait)
	age := 0.0
	if h.Holder != nil {
		age = h.Holder.Age.Seconds()
	}
	m.holderAge.Set(age)
}
