// Package observability owns the service's Prometheus registry and the collectors that are not
// tied to one package (connection pool statistics, Go runtime).
package observability

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// PoolCollector exposes pgxpool statistics, read at scrape time.
type PoolCollector struct {
	pool  *pgxpool.Pool
	descs map[string]*prometheus.Desc
}

// NewPoolCollector returns a collector for pool, labelled pool=name (main: DATABASE_URL's,
// direct: DATABASE_DIRECT_URL's); register one per pool. Waits for a connection show as
// empty_acquires_total and acquire_duration_seconds_total.
func NewPoolCollector(pool *pgxpool.Pool, name string) *PoolCollector {
	labels := prometheus.Labels{"pool": name}
	d := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc("taskforge_pgxpool_"+metric, help, nil, labels)
	}
	return &PoolCollector{pool: pool, descs: map[string]*prometheus.Desc{
		"acquired":       d("acquired_conns", "Connections currently checked out."),
		"idle":           d("idle_conns", "Idle connections."),
		"total":          d("total_conns", "All connections, including ones being opened."),
		"max":            d("max_conns", "Pool size limit."),
		"acquires":       d("acquires_total", "Successful acquires."),
		"empty_acquires": d("empty_acquires_total", "Acquires that had to wait for a connection."),
		"canceled":       d("canceled_acquires_total", "Acquires cancelled by their context."),
		"acquire_secs":   d("acquire_duration_seconds_total", "Time spent waiting in acquires."),
	}}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(k string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.GaugeValue, v)
	}
	counter := func(k string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, v)
	}
	gauge("acquired", float64(s.AcquiredConns()))
	gauge("idle", float64(s.IdleConns()))
	gauge("total", float64(s.TotalConns()))
	gauge("max", float64(s.MaxConns()))
	counter("acquires", float64(s.AcquireCount()))
	counter("empty_acquires", float64(s.EmptyAcquireCount()))
	counter("canceled", float64(s.CanceledAcquireCount()))
	counter("acquire_secs", s.AcquireDuration().Seconds())
}
