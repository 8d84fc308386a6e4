package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// BenchmarkClaimWithBacklog measures one dispatcher poll (a claim that finds nothing
// due) while 20 000 notifications wait for a retry an hour away, as they do behind a
// merchant whose endpoint is down.
func BenchmarkClaimWithBacklog(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			be := storagetest.Open(b, backend)
			m := storagetest.Must(tenant.NewService(be.DB, clock.Real{}).Create(ctx, tenant.NewMerchant{Name: "Backlog"})).MchID
			now := time.Now()
			for batch := range 20 {
				err := be.DB.InTx(ctx, func(tx *sqlstore.Tx) error {
					for i := range 1000 {
						n := notify.Notification{ID: fmt.Sprintf("N%02d%04d", batch, i), MchID: m, Format: "v2", EventType: "refund",
							URL: "https://127.0.0.1:1/down", Payload: []byte("{}"), NextAt: now.Add(time.Hour), CreatedAt: now}
						if err := tx.InsertNotification(ctx, n); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				got, err := be.DB.Claim(ctx, "bench", now, time.Minute, 100)
				if err != nil || len(got) != 0 {
					b.Fatalf("claimed %d, %v; want nothing due", len(got), err)
				}
			}
		})
	}
}
