package sqlstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

// BenchmarkLedgerTransfer measures posted transfers per second, each in its own
// transaction, from many goroutines over 100 payer wallets into 10 merchant accounts.
func BenchmarkLedgerTransfer(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			be := storagetest.Open(b, backend)
			l := ledger.New(be.DB, clock.Real{})
			storagetest.Must(l.Open(ctx, "external:bank", ledger.External, true))
			for i := range 100 {
				w := fmt.Sprintf("wallet:%d", i)
				storagetest.Must(l.Open(ctx, w, ledger.Wallet, false))
				storagetest.Must(l.Transfer(ctx, ledger.Request{Key: "fund:" + w, Debit: "external:bank", Credit: w, Amount: 1 << 40, Code: "topup"}))
			}
			for i := range 10 {
				storagetest.Must(l.Open(ctx, fmt.Sprintf("settlement:%d", i), ledger.Settlement, false))
			}
			var n atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					_, err := l.Transfer(ctx, ledger.Request{Key: fmt.Sprint("t:", i), Debit: fmt.Sprintf("wallet:%d", i%100),
						Credit: fmt.Sprintf("settlement:%d", i%10), Amount: 1, Code: "pay"})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}
