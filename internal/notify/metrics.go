package notify

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dispatcher's Prometheus series.
type Metrics struct {
	attempts *prometheus.CounterVec
	lateness prometheus.Histogram
	depth    prometheus.GaugeFunc
}

// Depth counts notifications in a state; the store implements it.
type Depth interface {
	CountNotifications(ctx context.Context, state string) (int64, error)
}

// NewMetrics registers the series on reg: attempts by outcome, lateness of attempts
// against their due time, and the queue depth read from the store at each scrape.
func NewMetrics(reg prometheus.Registerer, store Depth) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "facepay_notify_attempts_total", Help: "Notification delivery attempts, by outcome (delivered, failed, dead).",
		}, []string{"outcome"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "facepay_notify_lateness_seconds", Help: "How long after its due time an attempt started.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "facepay_notify_queue_depth", Help: "Notifications waiting for a delivery attempt.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := store.CountNotifications(ctx, Pending)
			if err != nil {
				return -1
			}
			return float64(n)
		}),
	}
	reg.MustRegister(m.attempts, m.lateness, m.depth)
	return m
}

func (m *Metrics) observe(a Attempt, outcome string) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(outcome).Inc()
	m.lateness.Observe(a.StartedAt.Sub(a.DueAt).Seconds())
}
