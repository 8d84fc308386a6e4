package merchant_test

import (
	"context"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/merchant"
	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/platform/platformtest"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

type bench struct {
	id  device.Identity
	p   *platform.Platform
	cr  tenant.Credentials
	srv *merchant.Server
	now time.Time
}

func setup(t *testing.T, backend string, timeout time.Duration, plan []time.Duration) *bench {
	t.Helper()
	p := platformtest.Start(t, backend)
	cr, creds := platformtest.Merchant(t, p)
	c, err := merchant.NewClient(p.Server.URL(), creds, timeout)
	if err != nil {
		t.Fatal(err)
	}
	bn := &bench{p: p, cr: cr, now: time.Now()}
	bn.id, _ = device.NewIdentity()
	bn.srv = merchant.New(merchant.Config{Client: c, QueryPlan: plan, Now: func() time.Time { return bn.now }})
	return bn
}

func (b *bench) authinfo(t *testing.T) string {
	t.Helper()
	raw, _ := device.MakeRawdata(b.id, time.Now())
	ai, _, _, err := b.srv.AuthInfo(context.Background(), merchant.AuthInfoRequest{StoreID: "S1", DeviceID: "K1", Rawdata: raw})
	if err != nil {
		t.Fatal(err)
	}
	return ai
}

func (b *bench) code(t *testing.T, authinfo, payer string) string {
	t.Helper()
	return storagetest.Must(b.p.Pay.MintFaceCode(context.Background(), authinfo, payer)).FaceCode
}

func (b *bench) balance(t *testing.T, payer string) int64 {
	t.Helper()
	return storagetest.Must(b.p.Pay.Payer(context.Background(), payer)).Balance
}

// TestMerchantServerSettlesEveryAnswer runs the reference merchant server against
// the platform on both backends: authinfo cached until shortly before it expires,
// a plain payment, an answer lost in transit (settled by orderquery), a password
// wait that never ends (reversed), a charge that never arrived (nothing to reverse),
// a definite refusal, and a refund over mutual TLS; the money ends right each time.
func TestMerchantServerSettlesEveryAnswer(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t, backend, 700*time.Millisecond, []time.Duration{time.Second, time.Second, time.Second})
			ai := b.authinfo(t)
			if again := b.authinfo(t); again != ai {
				t.Fatal("a second authinfo call within its lifetime was not served from the cache")
			}
			b.now = b.now.Add(56 * time.Minute) // within 5 minutes of expiry: fetched anew
			if fresh := b.authinfo(t); fresh == ai {
				t.Fatal("an authinfo about to expire was served from the cache")
			} else {
				ai = fresh
			}
			b.now = time.Now()
			payer := storagetest.Must(b.p.Pay.CreatePayer(ctx, 10000, "")).PayerID

			r, err := b.srv.Pay(ctx, merchant.PayRequest{OutTradeNo: "M-1", TotalFee: 500, FaceCode: b.code(t, ai, payer)})
			if err != nil || r.State != "SUCCESS" || r.Queries != 0 {
				t.Fatalf("plain payment: %+v %v", r, err)
			}
			// The platform answers after the client gave up: the order is paid, and orderquery finds it.
			storagetest.Must(b.p.Pay.AddFault(ctx, b.cr.MchID, "facepay", "", 1500*time.Millisecond, 1))
			r, err = b.srv.Pay(ctx, merchant.PayRequest{OutTradeNo: "M-2", TotalFee: 300, FaceCode: b.code(t, ai, payer)})
			if err != nil || r.State != "SUCCESS" || r.Queries == 0 || r.Reverses != 0 {
				t.Fatalf("lost answer: %+v %v", r, err)
			}
			// A password wait nobody answers: reversed at the end of the budget.
			if err := b.p.Pay.SetPasswordThreshold(ctx, b.cr.MchID, 1000); err != nil {
				t.Fatal(err)
			}
			r, err = b.srv.Pay(ctx, merchant.PayRequest{OutTradeNo: "M-3", TotalFee: 2000, FaceCode: b.code(t, ai, payer)})
			if err != nil || r.State != "REVERSED" || r.Queries != 3 || r.Reverses == 0 {
				t.Fatalf("endless password wait: %+v %v", r, err)
			}
			if err := b.p.Pay.SetPasswordThreshold(ctx, b.cr.MchID, 0); err != nil {
				t.Fatal(err)
			}
			// SYSTEMERROR before anything happened: the queries find no order, nor does the reverse.
			storagetest.Must(b.p.Pay.AddFault(ctx, b.cr.MchID, "facepay", "SYSTEMERROR", 0, 1))
			r, err = b.srv.Pay(ctx, merchant.PayRequest{OutTradeNo: "M-4", TotalFee: 100, FaceCode: b.code(t, ai, payer)})
			if err != nil || r.State != "FAIL" || r.Queries != 3 {
				t.Fatalf("a charge that never arrived: %+v %v", r, err)
			}
			// A definite refusal is final at once.
			poor := storagetest.Must(b.p.Pay.CreatePayer(ctx, 50, "")).PayerID
			r, err = b.srv.Pay(ctx, merchant.PayRequest{OutTradeNo: "M-5", TotalFee: 100, FaceCode: b.code(t, ai, poor)})
			if err != nil || r.State != "FAIL" || r.ErrCode != "NOTENOUGH" || r.Queries != 0 {
				t.Fatalf("not enough money: %+v %v", r, err)
			}
			if got := b.balance(t, payer); got != 10000-500-300 {
				t.Fatalf("balance %d, want %d", got, 10000-800)
			}
			ref, err := b.srv.Refund(ctx, "M-1", "MR-1", 500, 200)
			if err != nil || ref.Get("result_code") != "SUCCESS" {
				t.Fatalf("refund: %v %v", ref, err)
			}
			if got := b.balance(t, payer); got != 10000-800+200 {
				t.Fatalf("balance after the refund %d", got)
			}
			if _, err := b.srv.Pay(ctx, merchant.PayRequest{OutTradeNo: "", TotalFee: 1, FaceCode: "x"}); err == nil {
				t.Fatal("a payment without out_trade_no was sent")
			}
		})
	}
}
