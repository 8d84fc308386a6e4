package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
)

// Config wires a Dispatcher.
type Config struct {
	Store    Store
	Renderer Renderer
	Clock    clock.Clock
	Client   *http.Client  // timeouts included; a 5 s timeout when nil
	Lease    time.Duration // how long an attempt may take before another instance may retry; 30 s
	Batch    int           // notifications claimed at once; 32
	Poll     time.Duration // how often Run looks for due work; 200 ms
	Logger   *slog.Logger
	Metrics  *Metrics // optional
}

// Dispatcher delivers due notifications.
type Dispatcher struct {
	cfg   Config
	owner string // this dispatcher's lease name
}

// NewDispatcher returns a Dispatcher with a fresh lease name.
func NewDispatcher(cfg Config) *Dispatcher {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 32
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Dispatcher{cfg: cfg, owner: "d-" + hex.EncodeToString(b)}
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			d.cfg.Logger.Warn("notify: dispatch", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims what is due now and attempts it, concurrently, until nothing due is
// left; it returns how many attempts it made.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		batch, err := d.cfg.Store.Claim(ctx, d.owner, d.cfg.Clock.Now(), d.cfg.Lease, d.cfg.Batch)
		if err != nil || len(batch) == 0 {
			return total, err
		}
		var wg sync.WaitGroup
		for _, n := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.attempt(ctx, n)
			}()
		}
		wg.Wait()
		total += len(batch)
	}
	return total, ctx.Err()
}

// attempt makes one delivery and records it with the notification's next state.
func (d *Dispatcher) attempt(ctx context.Context, n Notification) {
	a := Attempt{N: n.Attempts + 1, DueAt: n.NextAt, StartedAt: d.cfg.Clock.Now()}
	ok := d.post(ctx, n, &a)
	n.Attempts = a.N
	switch next, more := Next(a.N, a.DueAt); {
	case ok:
		n.State, n.FinishedAt = Delivered, d.cfg.Clock.Now()
	case more:
		n.NextAt = next
	default:
		n.State, n.FinishedAt = Dead, d.cfg.Clock.Now()
	}
	outcome := "failed"
	switch n.State {
	case Delivered:
		outcome = "delivered"
	case Dead:
		outcome = "dead"
	}
	d.cfg.Metrics.observe(a, outcome)
	held, err := d.cfg.Store.Record(ctx, d.owner, n, a)
	switch {
	case err != nil:
		d.cfg.Logger.Warn("notify: record attempt", "id", n.ID, "err", err)
	case !held:
		d.cfg.Logger.Warn("notify: lease lost during an attempt", "id", n.ID)
	default:
		d.cfg.Logger.Info("notify: attempt", "id", n.ID, "mch_id", n.MchID, "event", n.EventType, "n", a.N,
			"status", a.HTTPStatus, "ok", ok, "state", n.State)
	}
}

const answerHead = 256

func (d *Dispatcher) post(ctx context.Context, n Notification, a *Attempt) bool {
	body, header, err := d.cfg.Renderer.Render(ctx, n)
	if err != nil {
		a.Error = "render: " + err.Error()
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = "request: " + err.Error()
		return false
	}
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := d.cfg.Client.Do(req)
	a.Latency = time.Since(start)
	if err != nil {
		a.Error = err.Error()
		return false
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a.HTTPStatus = resp.StatusCode
	a.AnswerHead = string(answer[:min(len(answer), answerHead)])
	return d.cfg.Renderer.Success(n.Format, resp.StatusCode, answer)
}
