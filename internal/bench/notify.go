package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/edge/notifyhttp"
	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// NotifyConfig sets up `facepay bench notify`.
type NotifyConfig struct {
	DBURL    string // PostgreSQL; empty: SQLite in a temporary directory
	Count    int    // notifications, all due at the start
	Progress io.Writer
}

// NotifyReport is what the notify benchmark prints.
type NotifyReport struct {
	Backend          string
	Count            int
	Elapsed          time.Duration
	LateP50, LateP99 time.Duration // attempt start against due time
}

// PerSec is deliveries per second.
func (r NotifyReport) PerSec() float64 { return float64(r.Count) / r.Elapsed.Seconds() }

// RunNotify writes Count v2 refund notifications into the outbox, all due at one
// instant, and measures one dispatcher delivering them to a local receiver that
// acknowledges each. Lateness is then mostly the backlog: the last of a burst of Count
// waits for all before it.
func RunNotify(ctx context.Context, cfg NotifyConfig) (NotifyReport, error) {
	if cfg.Count <= 0 {
		cfg.Count = 5000
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	db, done, err := freshStore(ctx, cfg.DBURL)
	if err != nil {
		return NotifyReport{}, err
	}
	defer done()
	cr, err := tenant.NewService(db, nil).Create(ctx, tenant.NewMerchant{Name: "bench"})
	if err != nil {
		return NotifyReport{}, err
	}
	var acked atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return NotifyReport{}, err
	}
	recv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		acked.Add(1)
		_, _ = w.Write([]byte("<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"))
	})}
	go func() { _ = recv.Serve(ln) }()
	defer recv.Close()

	fmt.Fprintf(cfg.Progress, "preparing %d notifications...\n", cfg.Count)
	payload, _ := json.Marshal(notify.V2Refund{
		Outer:   []notify.Field{{Name: "appid", Value: cr.AppID}, {Name: "mch_id", Value: cr.MchID}},
		ReqInfo: []notify.Field{{Name: "out_refund_no", Value: "R1"}, {Name: "refund_fee", Value: "1"}, {Name: "refund_status", Value: "SUCCESS"}},
	})
	start := time.Now()
	for i := 0; i < cfg.Count; i += 500 {
		err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
			for j := i; j < min(i+500, cfg.Count); j++ {
				if err := tx.InsertNotification(ctx, notify.Notification{ID: "B" + strconv.Itoa(j), MchID: cr.MchID, Format: notify.FormatV2Refund,
					EventType: "REFUND.SUCCESS", URL: "http://" + ln.Addr().String() + "/notify", Payload: payload, NextAt: start, CreatedAt: start}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return NotifyReport{}, err
		}
	}
	// Due now: lateness then measures the dispatcher, not the preparation.
	due := time.Now()
	if err := db.InTx(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE notifications SET next_at = ?`, due.UnixMicro())
		return err
	}); err != nil {
		return NotifyReport{}, err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	d := notify.NewDispatcher(notify.Config{Store: db, Renderer: notifyhttp.Renderer{Store: db}, Client: client, Batch: 64,
		Logger: slog.New(slog.DiscardHandler)})
	t0 := time.Now()
	stop := progress(cfg.Progress, "notify", t0, &acked)
	_, err = d.RunOnce(ctx)
	stop()
	if err != nil {
		return NotifyReport{}, err
	}
	rep := NotifyReport{Backend: db.Backend(), Count: int(acked.Load()), Elapsed: time.Since(t0)}
	if left, err := db.CountNotifications(ctx, notify.Pending); err != nil || left != 0 {
		return rep, fmt.Errorf("bench: %d notifications not delivered (%v)", left, err)
	}
	var late []time.Duration
	for i := range cfg.Count {
		_, as, err := db.Notification(ctx, "B"+strconv.Itoa(i))
		if err != nil {
			return rep, err
		}
		for _, a := range as {
			late = append(late, a.StartedAt.Sub(a.DueAt))
		}
	}
	slices.Sort(late)
	rep.LateP50, rep.LateP99 = late[len(late)/2], late[min(len(late)-1, len(late)*99/100)]
	return rep, nil
}
