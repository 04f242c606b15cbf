package sideeffects

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	kindWebhook = "webhook"
	kindEmail   = "email"
)

// Metrics are the module's Prometheus instruments. A nil *Metrics records nothing.
type Metrics struct {
	outcomes *prometheus.CounterVec
	attempts *prometheus.HistogramVec
	enqueues *prometheus.CounterVec
	consumer *prometheus.CounterVec
}

// newMetrics registers the instruments, and a collector that reads queue depth and age from the
// outboxes at scrape time.
func newMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_sideeffects_deliveries_total",
			Help: "Side-effect attempts by kind (webhook, email) and outcome: delivered, retry, dead, released, skipped.",
		}, []string{"kind", "outcome"}),
		attempts: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "taskforge_sideeffects_attempt_duration_seconds",
			Help:    "Duration of one delivery attempt (HTTP request or SMTP send), by kind and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind", "outcome"}),
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_sideeffects_enqueued_total",
			Help: "Outbox rows created by the consumer, by kind.",
		}, []string{"kind"}),
		consumer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskforge_sideeffects_consumer_events_total",
			Help: "Events enqueued by the side-effect consumer (result ok), and failed attempts at an event (result error).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.attempts, m.enqueues, m.consumer, &queueCollector{pool: pool}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) outcome(kind, outcome string, n int) {
	if m != nil && n > 0 {
		m.outcomes.WithLabelValues(kind, outcome).Add(float64(n))
	}
}

func (m *Metrics) attempt(kind, outcome string, took time.Duration) {
	if m != nil {
		m.outcomes.WithLabelValues(kind, outcome).Inc()
		m.attempts.WithLabelValues(kind, outcome).Observe(took.Seconds())
	}
}

func (m *Metrics) enqueued(kind string, n int) {
	if m != nil && n > 0 {
		m.enqueues.WithLabelValues(kind).Add(float64(n))
	}
}

func (m *Metrics) consumed(n int) {
	if m != nil && n > 0 {
		m.consumer.WithLabelValues("ok").Add(float64(n))
	}
}

func (m *Metrics) consumerFailed() {
	if m != nil {
		m.consumer.WithLabelValues("error").Inc()
	}
}

// queueCollector reports each outbox's depth by status and the age of its oldest due row.
type queueCollector struct{ pool *pgxpool.Pool }

var (
	queueDepthDesc = prometheus.NewDesc("taskforge_sideeffects_queue_depth",
		"Outbox rows by kind and status (pending, delivering or sending, dead).", []string{"kind", "status"}, nil)
	queueAgeDesc = prometheus.NewDesc("taskforge_sideeffects_queue_oldest_age_seconds",
		"Age of the oldest row waiting to be delivered (pending or in flight), by kind.", []string{"kind"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
}

// queueStatsSQL counts only unfinished and failed rows, one status at a time so that each branch
// is served by that status's partial index; delivered rows grow without bound and are not counted.
var queueStatsSQL = func() string {
	var parts []string
	for _, q := range []struct {
		kind, table string
		statuses    []string
	}{
		{kindWebhook, "webhook_deliveries", []string{"pending", "delivering", "dead"}},
		{kindEmail, "email_outbox", []string{"pending", "sending", "dead"}},
	} {
		for _, st := range q.statuses {
			parts = append(parts, fmt.Sprintf(`SELECT '%s', '%s', count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM %s WHERE status = '%s'`,
				q.kind, st, q.table, st))
		}
	}
	return strings.Join(parts, "\nUNION ALL\n")
}()

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.pool.Query(ctx, queueStatsSQL)
	if err != nil {
		return
	}
	defer rows.Close()
	oldest := map[string]float64{kindWebhook: 0, kindEmail: 0}
	for rows.Next() {
		var kind, status string
		var n int64
		var age float64
		if rows.Scan(&kind, &status, &n, &age) != nil {
			return
		}
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), kind, status)
		if status == "pending" || status == "delivering" || status == "sending" {
			oldest[kind] = max(oldest[kind], age)
		}
	}
	for kind, age := range oldest {
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age, kind)
	}
}
