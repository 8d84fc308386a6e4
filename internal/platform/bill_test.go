package platform_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-pay/gopay"
	"github.com/go-pay/gopay/wechat"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/wire/v2wire"
)

func (s *shop) downloadBill(t *testing.T, date, billType, tarType string) string {
	t.Helper()
	bm := make(gopay.BodyMap)
	bm.Set("nonce_str", v2wire.NonceStr()).Set("bill_date", date).Set("bill_type", billType)
	if tarType != "" {
		bm.Set("tar_type", tarType)
	}
	out, err := s.c.DownloadBill(context.Background(), bm)
	if err != nil {
		t.Fatalf("gopay DownloadBill: %v", err)
	}
	return out
}

func TestDownloadBill(t *testing.T) {
	t.Parallel()
	beijing := time.FixedZone("CST", 8*3600)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			fake := clock.NewFake(time.Date(2026, 11, 22, 9, 0, 0, 0, beijing))
			b := setupClock(t, backend, fake)
			s := newShop(t, b, fake)
			p := s.payer(t, 10000)
			pc := func() string { return storagetest.Must(b.P.Pay.MintPayCode(ctx, p)) }
			s.micropay(t, "B-1", 1234, pc())
			fake.Advance(30 * time.Minute)
			s.facepay(t, "B-2", 500, s.faceCode(t, p).FaceCode)
			s.micropay(t, "B-3", 300, pc())
			s.reverse(t, "B-3")
			s.refund(t, "B-1", "BR-1", 1234, 234)

			if got := s.downloadBill(t, "20261122", "ALL", ""); !strings.HasPrefix(got, "<xml>") || !strings.Contains(got, "Bill Creating") {
				t.Fatalf("the same day's bill: %q", got)
			}
			// In instant mode the same day's bill lists the trades so far.
			if err := b.P.Pay.SetBillMode(ctx, s.cr.MchID, "instant"); err != nil {
				t.Fatal(err)
			}
			if got := s.downloadBill(t, "20261122", "ALL", ""); !strings.Contains(got, "`B-2") || !strings.Contains(got, "`BR-1") {
				t.Fatalf("the same day's bill in instant mode: %q", got)
			}
			if err := b.P.Pay.SetBillMode(ctx, s.cr.MchID, "daily"); err != nil {
				t.Fatal(err)
			}
			if got := s.downloadBill(t, "20261122", "ALL", ""); !strings.Contains(got, "Bill Creating") {
				t.Fatalf("back in daily mode: %q", got)
			}
			if err := b.P.Pay.SetBillMode(ctx, s.cr.MchID, "hourly"); err == nil {
				t.Fatal("an unknown bill mode was accepted")
			}
			fake.Set(time.Date(2026, 11, 23, 10, 0, 0, 0, beijing))
			all := s.downloadBill(t, "20261122", "ALL", "")
			lines := strings.Split(strings.TrimRight(all, "\n"), "\n")
			if len(lines) != 1+4+2 || !strings.HasPrefix(lines[0], "交易时间,公众账号ID,商户号") {
				t.Fatalf("ALL bill has %d lines:\n%s", len(lines), all)
			}
			for _, want := range []string{"`B-1", "`B-2", "`B-3", "`BR-1", "`REVOKED", "`FACEPAY", "`12.34", "`2.34"} {
				if !strings.Contains(all, want) {
					t.Errorf("ALL bill lacks %s:\n%s", want, all)
				}
			}
			// Summary: 4 detail rows (3 payments, 12.34 + 5.00 + 3.00 settled; 1 refund of 2.34).
			if sum := lines[len(lines)-1]; !strings.HasPrefix(sum, "`4,`20.34,`2.34,") {
				t.Fatalf("ALL summary %q", sum)
			}
			success := s.downloadBill(t, "20261122", "SUCCESS", "")
			if strings.Contains(success, "`B-3") || strings.Contains(success, "`BR-1") || !strings.Contains(success, "`B-2") {
				t.Fatalf("SUCCESS bill:\n%s", success)
			}
			refunds := s.downloadBill(t, "20261122", "REFUND", "")
			if n := strings.Count(refunds, "`BR-1"); n != 1 || strings.Contains(refunds, "`B-2") {
				t.Fatalf("REFUND bill:\n%s", refunds)
			}
			gz := s.downloadBill(t, "20261122", "ALL", "GZIP")
			zr, err := gzip.NewReader(bytes.NewReader([]byte(gz)))
			if err != nil {
				t.Fatalf("GZIP bill is not gzip: %v", err)
			}
			plain, _ := io.ReadAll(zr)
			if string(plain) != all {
				t.Fatal("the gzip bill differs from the plain one")
			}
			for _, c := range []struct{ date, typ, want string }{
				{"20261121", "ALL", "No Bill Exist"},
				{"20261199", "ALL", "invalid bill_date"},
				{"20261124", "ALL", "invalid bill_date"},
			} {
				if got := s.downloadBill(t, c.date, c.typ, ""); !strings.HasPrefix(got, "<xml>") || !strings.Contains(got, c.want) {
					t.Errorf("%s %s: %q", c.date, c.typ, got)
				}
			}
			wrongKey := wechat.NewClient(s.cr.AppID, s.cr.MchID, otherKey(s.cr.APIKey), true)
			wrongKey.BaseURL = b.URL
			bm := make(gopay.BodyMap)
			bm.Set("nonce_str", v2wire.NonceStr()).Set("bill_date", "20261122").Set("bill_type", "ALL")
			if got, _ := wrongKey.DownloadBill(ctx, bm); !strings.Contains(got, "sign error") || !strings.Contains(got, "20001") {
				t.Fatalf("a wrongly signed bill request: %q", got)
			}
			// Another merchant's bill of that day has none of these orders.
			other := newShop(t, b, fake)
			if got := other.downloadBill(t, "20261122", "ALL", ""); !strings.Contains(got, "No Bill Exist") {
				t.Fatalf("another merchant sees: %q", got)
			}
		})
	}
}
