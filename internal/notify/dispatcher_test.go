package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

// plain renders the payload as is; success is HTTP 200.
type plain struct{}

func (plain) Render(_ context.Context, n notify.Notification) ([]byte, http.Header, error) {
	return n.Payload, http.Header{"Notification-Id": {n.ID}}, nil
}
func (plain) Success(_ string, status int, _ []byte) bool { return status == 200 }

// receiver answers 500 until okFrom arrivals have been seen (0: never), and records
// the platform clock at each arrival.
type receiver struct {
	mu       sync.Mutex
	clock    clock.Clock
	okFrom   int
	arrivals []time.Time
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.arrivals = append(rc.arrivals, rc.clock.Now())
	if rc.okFrom > 0 && len(rc.arrivals) >= rc.okFrom {
		return
	}
	w.WriteHeader(http.StatusInternalServerError)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.arrivals)
}

func enqueue(t *testing.T, db *sqlstore.DB, id, url string, at time.Time) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *sqlstore.Tx) error {
		return tx.InsertNotification(context.Background(), notify.Notification{ID: id, MchID: "1900000001", Format: "test",
			EventType: "TEST", URL: url, Payload: []byte(`{"id":"` + id + `"}`), NextAt: at, CreatedAt: at})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScheduleIsExact walks the whole 24 h 04 min schedule on an injected clock: no
// attempt a millisecond before it is due, exactly one when it is, every gap as WeChat
// documents, and nothing after the sixteenth.
func TestScheduleIsExact(t *testing.T) {
	t.Parallel()
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		fake := clock.NewFake(t0)
		rc := &receiver{clock: fake}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		enqueue(t, b.DB, "N1", srv.URL, t0)
		d := notify.NewDispatcher(notify.Config{Store: b.DB, Renderer: plain{}, Clock: fake})
		due := t0
		for k := 1; k <= notify.MaxAttempts; k++ {
			fake.Set(due.Add(-time.Millisecond))
			if n, err := d.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("attempt %d: %d attempts a millisecond early (%v)", k, n, err)
			}
			fake.Set(due)
			if n, err := d.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("attempt %d: %d attempts when due (%v)", k, n, err)
			}
			if rc.count() != k || !rc.arrivals[k-1].Equal(due) {
				t.Fatalf("attempt %d arrived at %v, due %v", k, rc.arrivals[k-1], due)
			}
			if k < notify.MaxAttempts {
				due = due.Add(notify.Gaps[k-1])
			}
		}
		if total := due.Sub(t0); total != 24*time.Hour+4*time.Minute {
			t.Fatalf("schedule spans %v, want 24h4m", total)
		}
		fake.Advance(7 * 24 * time.Hour)
		if n, _ := d.RunOnce(ctx); n != 0 || rc.count() != notify.MaxAttempts {
			t.Fatalf("attempts after the last: %d", n)
		}
		n, attempts, err := b.DB.Notification(ctx, "N1")
		if err != nil || n.State != notify.Dead || len(attempts) != notify.MaxAttempts || attempts[3].HTTPStatus != 500 {
			t.Fatalf("after the schedule: %+v, %d attempts, %v", n, len(attempts), err)
		}
		for i, a := range attempts {
			if !a.DueAt.Equal(rc.arrivals[i]) || a.N != i+1 {
				t.Fatalf("attempt %d recorded as %+v", i+1, a)
			}
		}
		// An operator retry makes it pending and due at once.
		if err := b.DB.Requeue(ctx, "N1", fake.Now()); err != nil {
			t.Fatal(err)
		}
		rc.okFrom = 1
		if k, _ := d.RunOnce(ctx); k != 1 {
			t.Fatalf("requeued notification: %d attempts", k)
		}
	})
}

func TestDeliveredStops(t *testing.T) {
	t.Parallel()
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
		fake := clock.NewFake(t0)
		rc := &receiver{clock: fake, okFrom: 3}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		enqueue(t, b.DB, "N2", srv.URL, t0)
		d := notify.NewDispatcher(notify.Config{Store: b.DB, Renderer: plain{}, Clock: fake})
		for range 10 {
			if _, err := d.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			fake.Advance(time.Hour)
		}
		n, attempts, err := b.DB.Notification(ctx, "N2")
		if err != nil || n.State != notify.Delivered || len(attempts) != 3 || rc.count() != 3 || attempts[2].HTTPStatus != 200 {
			t.Fatalf("%+v, %d attempts, %d arrivals, %v", n, len(attempts), rc.count(), err)
		}
	})
}

// TestTwoDispatchersNeverOverlap runs two dispatchers (two instances) against one
// store: each notification is attempted exactly once per due time, never twice at once.
func TestTwoDispatchersNeverOverlap(t *testing.T) {
	t.Parallel()
	storagetest.Each(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		var mu sync.Mutex
		inFlight, maxInFlight := map[string]int{}, 0
		seen := map[string]int{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("Notification-Id")
			mu.Lock()
			inFlight[id]++
			seen[id]++
			maxInFlight = max(maxInFlight, inFlight[id])
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			inFlight[id]--
			mu.Unlock()
		}))
		defer srv.Close()
		now := time.Now()
		for i := range 200 {
			enqueue(t, b.DB, "M"+string(rune('A'+i%26))+time.Duration(i).String(), srv.URL, now)
		}
		var wg sync.WaitGroup
		for range 2 {
			d := notify.NewDispatcher(notify.Config{Store: b.DB, Renderer: plain{}, Batch: 8})
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = d.RunOnce(ctx) }()
		}
		wg.Wait()
		if len(seen) != 200 || maxInFlight != 1 {
			t.Fatalf("%d notifications seen, at most %d attempts of one at once", len(seen), maxInFlight)
		}
		for id, k := range seen {
			if k != 1 {
				t.Fatalf("%s delivered %d times by two dispatchers", id, k)
			}
		}
	})
}
