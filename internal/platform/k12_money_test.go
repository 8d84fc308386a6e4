package platform_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

// k12Rounds and k12Ops size the money property run; each round is a fresh school.
const (
	k12Rounds  = 6
	k12Ops     = 90
	k12Workers = 4
)

// moneyModel is what the property run remembers of what it did.
type moneyModel struct {
	mu       sync.Mutex
	requests []k12.DebitRequest         // every debit asked, for retries and credential reuse
	first    map[string]pay.Order       // out_trade_no -> the first answer
	paid     []pay.Order                // debits that took money, for refunds
	toWallet map[string]int64           // payer -> fen the property run put in or expects back
	users    map[string]string          // user -> payer
	outUsers map[string]string          // user -> out_user_id
	events   map[string]int             // what happened, for the closing counts
	days     map[string]map[string]bool // user -> Beijing days with counted debits
}

// TestK12MoneyProperties runs random concurrent sequences of K12 debits, retries,
// reused credentials, failures, advances, top-ups, repayments, refunds and test-clock
// moves across Beijing midnight on both backends, and checks after every round that
// no out_trade_no or credential took money twice, a retry answers its first result,
// no debit or Beijing day went over its limit, no user ever held a fourth unpaid
// advance, every wallet holds exactly what the run put in and took out, the advance
// account is minus what families owe, and the ledger sums to zero.
func TestK12MoneyProperties(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b *bundle) {
		totals := map[string]int{}
		for round := range k12Rounds {
			m := runMoneyRound(t, b, uint64(round))
			for k, v := range m.events {
				totals[k] += v
			}
		}
		t.Logf("%d rounds × %d operations: %v", k12Rounds, k12Ops, totals)
		// The run must have exercised what it claims to check.
		for _, k := range []string{"paid", "advanced", "not_enough", "daily_limit", "payment_limit", "retry", "credential_reused",
			"repaid", "refund", "disabled_refused", "multi_day_user"} {
			if totals[k] == 0 {
				t.Errorf("no %s in %d rounds: the sequences are too narrow", k, k12Rounds)
			}
		}
	})
}

func runMoneyRound(t *testing.T, b *bundle, seed uint64) *moneyModel {
	t.Helper()
	ctx := context.Background()
	s := newSchool(t, b, false) // a test provider, so its clock can cross midnight
	if err := b.P.DB.SetAdvanceFunding(ctx, s.sp.MchID, true); err != nil {
		t.Fatal(err)
	}
	// Looser than a test provider's 100 fen a day is not allowed, so work in fen.
	cst := time.FixedZone("CST", 8*3600)
	clockAt := time.Date(2026, 9, 1, 20, 0, 0, 0, cst)
	if err := b.P.DB.SetTestClock(ctx, s.sp.MchID, clockAt); err != nil {
		t.Fatal(err)
	}
	m := &moneyModel{first: map[string]pay.Order{}, toWallet: map[string]int64{}, users: map[string]string{}, outUsers: map[string]string{},
		events: map[string]int{}, days: map[string]map[string]bool{}}
	var users []string
	setup := rand.New(rand.NewPCG(seed, 1))
	for range 3 {
		bal := int64(setup.IntN(80))
		u, p := s.student(t, bal)
		users = append(users, u)
		m.users[u], m.toWallet[p] = p, bal
		m.outUsers[u] = outUserOf(t, b, s, u)
	}
	caller := k12.Caller{MchID: s.sp.MchID}
	var clockMu sync.Mutex
	var wg sync.WaitGroup
	var seq int
	for w := range k12Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)+10))
			for i := 0; i < k12Ops/k12Workers; i++ {
				user := users[rng.IntN(len(users))]
				switch op := rng.IntN(100); {
				case op < 45: // a new debit
					m.mu.Lock()
					seq++
					out := fmt.Sprintf("P%d-%d-%d", seed, w, seq)
					m.mu.Unlock()
					fen := int64(1 + rng.IntN(60))
					if rng.IntN(10) == 0 {
						fen = 10001 // over the per-debit limit
					}
					r := s.debitRequest(t, user, fen, out)
					debitOnce(t, b, caller, m, r)
				case op < 55: // a retry of an earlier request
					m.mu.Lock()
					if len(m.requests) == 0 {
						m.mu.Unlock()
						continue
					}
					r := m.requests[rng.IntN(len(m.requests))]
					m.mu.Unlock()
					d, err := b.P.K12.Withhold(ctx, caller, r)
					if err != nil {
						t.Errorf("a retry of %s: %v", r.OutTradeNo, err)
						continue
					}
					m.mu.Lock()
					first, seen := m.first[r.OutTradeNo]
					m.mu.Unlock()
					if seen && (d.Order.TransactionID != first.TransactionID || d.Order.State != first.State && first.State != pay.StateSuccess) {
						t.Errorf("a retry of %s answered %s %s, first %s %s", r.OutTradeNo, d.Order.TransactionID, d.Order.State, first.TransactionID, first.State)
					}
					m.count("retry")
				case op < 65: // a credential sent again under a new out_trade_no
					m.mu.Lock()
					if len(m.requests) == 0 {
						m.mu.Unlock()
						continue
					}
					r := m.requests[rng.IntN(len(m.requests))]
					seq++
					r.OutTradeNo = fmt.Sprintf("Q%d-%d-%d", seed, w, seq)
					m.mu.Unlock()
					debitOnce(t, b, caller, m, r)
					m.count("credential_reused")
				case op < 73: // the family tops up
					p := m.users[user]
					fen := int64(1 + rng.IntN(100))
					if _, err := b.P.Pay.TopUp(ctx, p, fen); err != nil {
						t.Error(err)
					}
					m.mu.Lock()
					m.toWallet[p] += fen
					m.mu.Unlock()
				case op < 81: // the family repays
					link, _, err := b.P.K12.RepaymentURL(ctx, caller, s.org.ID, m.outUsers[user], "http://x")
					if err != nil {
						t.Error(err)
						continue
					}
					rp, err := b.P.K12.Repay(ctx, k12.RepaymentToken(link))
					switch {
					case err == nil:
						m.mu.Lock()
						m.toWallet[m.users[user]] -= rp.Amount
						m.events["repaid"]++
						m.mu.Unlock()
					case errcode.Is(err, errcode.Conflict), errcode.Is(err, errcode.InsufficientFunds):
					default:
						t.Error(err)
					}
				case op < 91: // the school refunds part or all of a paid debit
					m.mu.Lock()
					if len(m.paid) == 0 {
						m.mu.Unlock()
						continue
					}
					o := m.paid[rng.IntN(len(m.paid))]
					seq++
					no := fmt.Sprintf("R%d-%d-%d", seed, w, seq)
					m.mu.Unlock()
					fen := int64(1 + rng.IntN(int(o.TotalFee)))
					_, after, err := b.P.Pay.Refund(ctx, pay.RefundRequest{OrderRef: pay.OrderRef{MchID: s.sp.MchID, SubMchID: s.sub.MchID,
						OutTradeNo: o.OutTradeNo}, OutRefundNo: no, TotalFee: strconv.FormatInt(o.TotalFee, 10), RefundFee: strconv.FormatInt(fen, 10)})
					if err != nil {
						continue // more than is left to refund: refused, nothing moved
					}
					// A refund of an unpaid advance goes back to the advance; any other to the wallet.
					if after.Funding != pay.FundingAdvance || after.DebtState == pay.Repaid {
						m.mu.Lock()
						m.toWallet[o.PayerID] += fen
						m.mu.Unlock()
					}
					m.count("refund")
				default: // time passes on the provider's test clock, often across midnight
					clockMu.Lock()
					clockAt = clockAt.Add(time.Duration(1+rng.IntN(8)) * time.Hour)
					err := b.P.DB.SetTestClock(ctx, s.sp.MchID, clockAt)
					clockMu.Unlock()
					if err != nil {
						t.Error(err)
					}
				}
				checkOpenDebts(t, b)
			}
		}()
	}
	wg.Wait()
	checkMoney(t, b, s, m)
	return m
}

func (m *moneyModel) count(k string) {
	m.mu.Lock()
	m.events[k]++
	m.mu.Unlock()
}

// debitRequest is a debit of fen by user at the school's kiosk.
func (s *school) debitRequest(t *testing.T, user string, fen int64, out string) k12.DebitRequest {
	return k12.DebitRequest{AuthCode: s.credential(t, user, fen), SPMchID: s.sp.MchID, SubMchID: s.sub.MchID, Total: fen, Currency: "CNY",
		DeviceIP: "10.0.0.9", OutTradeNo: out, ProductID: 2, SceneID: 3, Description: "午餐"}
}

func debitOnce(t *testing.T, b *bundle, c k12.Caller, m *moneyModel, r k12.DebitRequest) {
	t.Helper()
	d, err := b.P.K12.Withhold(context.Background(), c, r)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		// The only refusal a well-formed request may get: its credential already paid.
		if !errcode.Is(err, errcode.Invalid) {
			t.Errorf("debit %s: %v", r.OutTradeNo, err)
		}
		m.events["refused"]++
		return
	}
	if _, seen := m.first[r.OutTradeNo]; !seen {
		m.first[r.OutTradeNo] = d.Order
		m.requests = append(m.requests, r)
	}
	o := d.Order
	switch {
	case o.State == pay.StateSuccess && o.Funding == pay.FundingAdvance:
		m.events["advanced"]++
	case o.State == pay.StateSuccess:
		m.events["paid"]++
		m.toWallet[o.PayerID] -= o.TotalFee
	}
	if o.State == pay.StateSuccess {
		m.paid = append(m.paid, o)
		if m.days[d.Record.UserID] == nil {
			m.days[d.Record.UserID] = map[string]bool{}
		}
		if !m.days[d.Record.UserID][d.Record.Day] && len(m.days[d.Record.UserID]) == 1 {
			m.events["multi_day_user"]++
		}
		m.days[d.Record.UserID][d.Record.Day] = true
	}
	switch d.Record.ErrorType {
	case k12.ErrNotEnough:
		m.events["not_enough"]++
	case k12.ErrDailyLimit:
		m.events["daily_limit"]++
	case k12.ErrPaymentLimit:
		m.events["payment_limit"]++
	case k12.ErrUserDisabled:
		m.events["disabled_refused"]++
	}
}

// checkOpenDebts: no user ever holds more than three unpaid advances.
func checkOpenDebts(t *testing.T, b *bundle) {
	t.Helper()
	rows, err := b.P.DB.SQL().QueryContext(context.Background(), `SELECT d.user_id, COUNT(*) FROM orders o JOIN k12_debits d
		ON d.owner_mch_id = o.owner_mch_id AND d.out_trade_no = o.out_trade_no WHERE o.debt_state = 'IN_DEBT' GROUP BY d.user_id`)
	if err != nil {
		t.Error(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		var n int
		_ = rows.Scan(&u, &n)
		if n > k12.MaxOpenAdvances {
			t.Errorf("user %s holds %d unpaid advances", u, n)
		}
	}
}

func checkMoney(t *testing.T, b *bundle, s *school, m *moneyModel) {
	t.Helper()
	ctx := context.Background()
	db := b.P.DB.SQL()
	one := func(q string, dst ...any) {
		t.Helper()
		if err := db.QueryRowContext(ctx, q).Scan(dst...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var n int
	one(`SELECT COUNT(*) FROM (SELECT credential_hash FROM k12_debits WHERE counted = 1 GROUP BY credential_hash HAVING COUNT(*) > 1) x`, &n)
	if n != 0 {
		t.Errorf("%d credentials took money twice", n)
	}
	var transfers, counted int
	one(`SELECT COUNT(*) FROM ledger_transfers WHERE code IN ('withhold', 'advance')`, &transfers)
	one(`SELECT COUNT(*) FROM k12_debits WHERE counted = 1`, &counted)
	if transfers != counted {
		t.Errorf("%d debit transfers for %d debits that took money", transfers, counted)
	}
	one(`SELECT COUNT(*) FROM k12_debits WHERE counted = 1 AND total_fee > `+strconv.Itoa(k12.PaymentLimit), &n)
	if n != 0 {
		t.Errorf("%d debits over the per-debit limit took money", n)
	}
	one(`SELECT COUNT(*) FROM (SELECT user_id, day FROM k12_debits WHERE counted = 1 GROUP BY user_id, day HAVING SUM(total_fee) > `+
		strconv.Itoa(k12.TestDailyLimit)+`) x`, &n)
	if n != 0 {
		t.Errorf("%d user-days went over the daily limit", n)
	}
	// Every order that took money has exactly its amount in one transfer.
	one(`SELECT COUNT(*) FROM k12_debits d JOIN orders o ON d.owner_mch_id = o.owner_mch_id AND d.out_trade_no = o.out_trade_no
		LEFT JOIN ledger_transfers l ON l.idem_key = 'pay:' || o.owner_mch_id || '/' || o.out_trade_no
		WHERE d.counted = 1 AND (l.amount IS NULL OR l.amount <> o.total_fee)`, &n)
	if n != 0 {
		t.Errorf("%d paid debits have no transfer of their amount", n)
	}
	one(`SELECT COUNT(*) FROM k12_debits d LEFT JOIN ledger_transfers l ON l.idem_key = 'pay:' || d.owner_mch_id || '/' || d.out_trade_no
		WHERE d.counted = 0 AND l.idem_key IS NOT NULL`, &n)
	if n != 0 {
		t.Errorf("%d refused debits moved money", n)
	}
	for payer, want := range m.toWallet {
		if got := storagetest.Must(b.P.Pay.Payer(ctx, payer)).Balance; got != want {
			t.Errorf("payer %s holds %d fen, the run put in and took out %d", payer, got, want)
		}
	}
	var owed int64
	one(`SELECT COALESCE(SUM(total_fee - refunded_fee), 0) FROM orders WHERE debt_state = 'IN_DEBT'`, &owed)
	adv, err := b.P.Ledger.Account(ctx, "advance:platform")
	if err == nil && adv.Balance != -owed {
		t.Errorf("the advance account holds %d, families owe %d", adv.Balance, owed)
	}
	if a := storagetest.Must(b.P.DB.AuditLedger(ctx)); !a.Balanced() {
		t.Errorf("ledger does not balance: %+v", a)
	}
}
