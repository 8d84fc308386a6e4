package k12

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/pay"
)

// Limits of the platform [FAQ 5.7, 5.1]: a production service provider's users pay
// at most 100 CNY a debit and 500 CNY a Beijing day; a test service provider's users
// 1 CNY a day. Limits are inclusive; advances count toward them; refused debits do
// not; refunds give nothing back.
const (
	PaymentLimit     = 10000
	DailyLimit       = 50000
	TestDailyLimit   = 100
	MaxOpenAdvances  = 3
	credentialSkew   = 5 * time.Minute
	maxOutTradeNoLen = 32
)

// Refusal reasons of a processed debit (error_type with trade_state PAYERROR).
// NOT_ENOUGH is documented; the others are OpenFacePay's, since none are published.
const (
	ErrNotEnough        = "NOT_ENOUGH"
	ErrPaymentLimit     = "EXCEED_PAYMENT_LIMIT"
	ErrDailyLimit       = "EXCEED_DAILY_LIMIT"
	ErrRiskControl      = "RISK_CONTROL"
	ErrUserDisabled     = "USER_DISABLED"
	ErrNoContract       = "CONTRACT_NOT_IN_FORCE"
	ErrBankCardMismatch = "BANK_CARD_MISMATCH"
)

var refusalText = map[string]string{
	ErrNotEnough:        "余额不足",
	ErrPaymentLimit:     "超出单笔扣款限额",
	ErrDailyLimit:       "超出每日扣款限额",
	ErrRiskControl:      "风控拦截：不在允许的时间或设备",
	ErrUserDisabled:     "用户已被禁用",
	ErrNoContract:       "用户未签约或已解约",
	ErrBankCardMismatch: "付款账户不是签约指定的银行卡",
}

// Settings are a service provider's K12 settings; they apply to all its schools.
type Settings struct {
	Production     bool
	AdvanceFunding bool
	PaymentLimit   int64 // the service provider's own, stricter limits; 0 when none
	DailyLimit     int64
}

// limits are the limits in force for a service provider's users.
func (s Settings) limits() (perDebit, perDay int64) {
	perDebit, perDay = PaymentLimit, DailyLimit
	if !s.Production {
		perDay = TestDailyLimit
	}
	if s.PaymentLimit > 0 && s.PaymentLimit < perDebit {
		perDebit = s.PaymentLimit
	}
	if s.DailyLimit > 0 && s.DailyLimit < perDay {
		perDay = s.DailyLimit
	}
	return perDebit, perDay
}

// DebitRecord is the K12 side of a debit's order.
type DebitRecord struct {
	Owner, OutTradeNo, SPMchID, SPAppID string
	OrgID, UserID, ContractID, DeviceID string
	Day                                 string // the Beijing day (20060102) on the service provider's clock
	Total                               int64
	Counted                             bool // it took money (debit or advance): counts toward limits, used its credential
	ErrorType                           string
	ProductID, SceneID                  int64
	DeviceIP, GoodsTag                  string
	ProfitSharing                       bool
	CredentialHash, Digest              string
	CreatedAt                           time.Time
}

// Debit is a debit: its order and its K12 record.
type Debit struct {
	Order  pay.Order
	Record DebitRecord
}

// Repayment is one repayment of all of a user's open debts.
type Repayment struct {
	RepaymentID string
	UserID      string
	PayerID     string
	Amount      int64
	Debts       int64
	CreatedAt   time.Time
}

// DebitTx is the storage a debit needs inside one transaction. LockUser serialises
// the debits of one user, so that limits and advances are judged on what committed.
type DebitTx interface {
	pay.Tx
	LockUser(ctx context.Context, userID string) (User, bool, error)
	DebitRecord(ctx context.Context, owner, outTradeNo string) (DebitRecord, bool, error)
	InsertDebit(ctx context.Context, d DebitRecord) error
	// CredentialUsed tells which debit, if any, took money with the credential.
	CredentialUsed(ctx context.Context, hash string) (owner, outTradeNo string, used bool, err error)
	CountedOn(ctx context.Context, userID, day string) (int64, error)
	// OpenDebts are the orders of the user's debits still IN_DEBT, locked.
	OpenDebts(ctx context.Context, userID string) ([]pay.Order, error)
	SetUserStatus(ctx context.Context, u User) error
	ContractInTx(ctx context.Context, id string) (Contract, bool, error)
	InsertRepayment(ctx context.Context, r Repayment) error
}

// DebitStore opens debit transactions and holds the K12 settings.
type DebitStore interface {
	InDebitTx(ctx context.Context, fn func(DebitTx) error) error
	Settings(ctx context.Context, mchID string) (Settings, error)
	SetAdvanceFunding(ctx context.Context, mchID string, on bool) error
	SetLimits(ctx context.Context, mchID string, perDebit, perDay int64) error
	SetRisk(ctx context.Context, orgID, hours string, devices []string) error
	DebitByOrder(ctx context.Context, owner, outTradeNo string) (Debit, bool, error)
	// DebitRead reads, in one statement, the service provider's settings, webhook URL
	// and test clock, one of its organisations (OrgFound=false when it is not the
	// service provider's) and the state of the user k names.
	DebitRead(ctx context.Context, spMchID, orgID string, k DebitKey) (DebitContext, DebitState, error)
	// ApplyDebit writes a debit decided from DebitState and returns after its commit,
	// or pay.ErrNotApplied with nothing written.
	ApplyDebit(ctx context.Context, g GuardedDebit) error
}

// DebitContext is what a debit reads of its service provider and organisation.
type DebitContext struct {
	Settings    Settings
	NotifyURL   string
	TestClock   time.Time
	OnTestClock bool
	Org         Organisation
	OrgFound    bool
}

// DebitKey names the user DebitRead reads and what it reads beside: the spending of
// Day, the credential's use, the out_trade_no's.
type DebitKey struct {
	UserID, Day       string
	CredentialHash    string
	Owner, OutTradeNo string
}

// DebitState is a user's state for a debit, read in one statement so its parts agree:
// Spent is what the user's debits up to Seq took on the day.
type DebitState struct {
	User           User
	Found          bool
	Seq            int64 // moves on with every transaction that locks the user
	Contract       Contract
	ContractFound  bool
	Day            string
	Spent          int64 // counted on Day
	CredentialUsed bool  // a counted debit used the credential
	OrderTaken     bool  // the owner's out_trade_no names a debit already
}

// GuardedDebit is a debit the wallet pays, decided from a DebitState. Its writes
// check what the decision assumed: the user's sequence is still Seq and the user still
// enabled under ContractID, the out_trade_no and the credential still unused, the
// wallet still covers the amount.
type GuardedDebit struct {
	Seq        int64
	ContractID string
	Order      pay.Order
	Transfer   ledger.Transfer
	Record     DebitRecord
	Event      *notify.Notification // the debit's webhook, when the service provider takes them
}

// DebitRequest is POST /v3/offlineface/transactions.
type DebitRequest struct {
	AuthCode                             string
	SPAppID, SPMchID, SubAppID, SubMchID string
	Total                                int64
	Currency                             string
	DeviceIP, GoodsTag, Description      string
	Attach, OutTradeNo                   string
	ProfitSharing                        bool
	ProductID, SceneID                   int64
}

var (
	outTradeNoRE = regexp.MustCompile(`^[A-Za-z0-9_\-*@|]{6,32}$`)
	products     = map[int64]bool{2: true, 11: true}
	scenes       = map[int64]bool{3: true, 4: true, 5: true, 6: true, 124: true, 125: true, 126: true}
)

func (r DebitRequest) validate() error {
	inv := func(format string, a ...any) error { return errcode.E(errcode.Invalid, format, a...) }
	switch {
	case r.AuthCode == "":
		return inv("auth_code is required: the kiosk's offline payment credential")
	case r.Total <= 0:
		return inv("amount.total must be a positive number of fen")
	case r.Currency != "CNY":
		return inv("amount.currency must be CNY")
	case r.DeviceIP == "" || len(r.DeviceIP) > 45:
		return inv("scene_info.device_ip is required")
	case !outTradeNoRE.MatchString(r.OutTradeNo):
		return inv("out_trade_no must be 6 to 32 letters, digits or _-*@|: it makes a retried debit safe")
	case !products[r.ProductID]:
		return inv("business.business_product_id must be 2 or 11")
	case !scenes[r.SceneID]:
		return inv("business.business_scene_id must be one of 3, 4, 5, 6, 124, 125, 126")
	case utf8.RuneCountInString(r.Description) > 127, utf8.RuneCountInString(r.Attach) > 128, len(r.GoodsTag) > 32:
		return inv("description is at most 127 characters, attach 128 and goods_tag 32")
	}
	return nil
}

// digest names what a debit asks, so a retry can be told from another request.
func (r DebitRequest) digest() string {
	h := sha256.New()
	for _, f := range []string{r.AuthCode, r.SPAppID, r.SubAppID, r.SubMchID, strconv.FormatInt(r.Total, 10), r.DeviceIP, r.GoodsTag,
		r.Description, r.Attach, strconv.FormatBool(r.ProfitSharing), strconv.FormatInt(r.ProductID, 10), strconv.FormatInt(r.SceneID, 10)} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// credential opens and checks an offline payment credential for the caller: nothing
// about it may be foreign, altered or stale. Every refusal changes nothing.
func (s *Service) credential(c Caller, r DebitRequest) (device.OfflineClaims, device.AuthInfo, error) {
	bad := func(why string) (device.OfflineClaims, device.AuthInfo, error) {
		return device.OfflineClaims{}, device.AuthInfo{}, errcode.E(errcode.Invalid, "auth_code: %s", why)
	}
	cl, err := device.ParseOfflineCredential(r.AuthCode)
	if err != nil {
		return bad("not an offline payment credential of this platform")
	}
	a, err := device.UnsealAuthInfo(s.sealer, cl.AuthInfo)
	// A credential of another service provider answers like a forged one.
	if err != nil || a.OrgID == "" || a.MchID != c.MchID {
		return bad("its device credential is not valid")
	}
	if err := device.VerifyOfflineCredential(r.AuthCode, a.DeviceKey); err != nil {
		return bad("the kiosk's signature does not verify")
	}
	switch {
	case r.SPMchID != "" && r.SPMchID != c.MchID:
		return bad("sp_mchid is not the merchant that signed the request")
	case r.SubMchID != "" && r.SubMchID != a.SubMchID:
		return bad("it was issued for another sub_mchid")
	case r.SPAppID != "" && r.SPAppID != a.AppID:
		return bad("it was issued for another sp_appid")
	case cl.Amount != r.Total:
		return bad("it was issued for another amount")
	}
	now := s.clock.Now()
	issued := time.Unix(cl.IssuedAt, 0)
	switch {
	case issued.Before(time.Unix(a.IssuedAt, 0).Add(-credentialSkew)) || !issued.Before(time.Unix(a.ExpiresAt, 0)):
		return bad("it was made outside its device credential's validity")
	case issued.After(now.Add(credentialSkew)):
		return bad("it was made in the future: check the kiosk's clock")
	case !now.Before(issued.Add(device.OfflineCredentialTTL)):
		return bad("it has expired (24 hours after the kiosk made it)")
	}
	return cl, a, nil
}

// Withhold debits a contracted user for what the kiosk recorded. A processed debit
// answers its outcome (SUCCESS, SUCCESS advance-funded, or PAYERROR with a reason); an
// error means the request could not be processed and nothing changed.
func (s *Service) Withhold(ctx context.Context, c Caller, r DebitRequest) (Debit, error) {
	if err := r.validate(); err != nil {
		return Debit{}, err
	}
	cl, a, err := s.credential(c, r)
	if err != nil {
		return Debit{}, err
	}
	// The platform's day; a test clock on another day makes this read's spending the
	// wrong day's, and the debit takes the interactive path.
	hash := device.HashOfflineCredential(r.AuthCode)
	key := DebitKey{UserID: cl.UserID, Day: s.clock.Now().In(beijing).Format("20060102"), CredentialHash: hash, Owner: a.SubMchID, OutTradeNo: r.OutTradeNo}
	dc, st, err := s.debits.DebitRead(ctx, c.MchID, a.OrgID, key)
	if err != nil {
		return Debit{}, err
	}
	if !dc.OrgFound {
		return Debit{}, notFound("the organisation")
	}
	// The service provider's clock (a test clock moves it) decides the day and hours;
	// read outside the transaction, as the payment path does.
	now := s.pay.NowWith(dc.TestClock, dc.OnTestClock)
	in := withholdInput{req: r, claims: cl, auth: a, org: dc.Org, settings: dc.Settings, notifyURL: dc.NotifyURL, now: now,
		hash: hash, digest: r.digest()}
	if d, ok, err := s.quickWithhold(ctx, in, st); err != nil || ok {
		return d, err
	}
	var d Debit
	err = s.inDebitTx(ctx, func(tx DebitTx) (err error) {
		d, err = s.withhold(ctx, tx, in)
		return err
	})
	if err == nil && d.Record.Counted {
		s.pay.SettlementOpened(d.Order.OwnerMchID) // committed: the settlement account exists
	}
	return d, err
}

// quickWithhold takes the common debit (a new out_trade_no, an unused credential, an
// enabled and contracted user within the limits, a wallet that covers the amount and
// no designated card to compare) decided from one read outside any transaction and
// written as guarded writes, which the store commits together with other payments.
// ok=false when it is not the common case or a guard did not hold: nothing was
// written, and the interactive path decides from the start. A user the credential
// names who is not the school's is refused here as there.
func (s *Service) quickWithhold(ctx context.Context, in withholdInput, st DebitState) (Debit, bool, error) {
	day := in.now.In(beijing).Format("20060102")
	u, ct := st.User, st.Contract
	switch {
	case !st.Found || u.OrgID != in.org.ID:
		return Debit{}, false, notFound("the credential's user")
	case st.Day != day, st.OrderTaken, st.CredentialUsed, !st.ContractFound, u.ContractID == "", designated(ct):
		return Debit{}, false, nil
	}
	rec := in.record(u, day)
	if in.rules(u, ct, rec, st.Spent) != "" {
		return Debit{}, false, nil
	}
	o, t, ok := s.pay.PlanWithhold(in.withholding(ct, false), in.now)
	if !ok {
		return Debit{}, false, nil
	}
	rec.Counted = true
	d := Debit{Order: o, Record: rec}
	g := GuardedDebit{Seq: st.Seq, ContractID: u.ContractID, Order: o, Transfer: t, Record: rec}
	if in.notifyURL != "" {
		g.Event = newEvent(in.notifyURL, in.auth.MchID, debitEvent(d), d.View(), in.now)
	}
	switch err := s.debits.ApplyDebit(ctx, g); {
	case errors.Is(err, pay.ErrNotApplied):
		return Debit{}, false, nil
	case err != nil:
		return Debit{}, false, err
	}
	return d, true, nil
}

// designated: the contract names a card that the payer's wallet must be compared with,
// which only the interactive path reads.
func designated(ct Contract) bool { return ct.Mode != LimitNone && ct.Card != "" }

// record is the K12 side of the debit in, for user u on the Beijing day.
func (in withholdInput) record(u User, day string) DebitRecord {
	r := in.req
	return DebitRecord{Owner: in.auth.SubMchID, OutTradeNo: r.OutTradeNo, SPMchID: in.auth.MchID, SPAppID: in.auth.AppID, OrgID: u.OrgID,
		UserID: u.UserID, ContractID: u.ContractID, DeviceID: in.auth.DeviceID, Day: day,
		Total: r.Total, ProductID: r.ProductID, SceneID: r.SceneID, DeviceIP: r.DeviceIP, GoodsTag: r.GoodsTag,
		ProfitSharing: r.ProfitSharing, CredentialHash: in.hash, Digest: in.digest, CreatedAt: in.now}
}

// withholding is what the payment domain is asked to take from the contract's payer.
func (in withholdInput) withholding(ct Contract, mayAdvance bool) pay.Withholding {
	r := in.req
	return pay.Withholding{Owner: in.auth.SubMchID, MchID: in.auth.MchID, SubMchID: in.auth.SubMchID, AppID: in.auth.AppID, SubAppID: in.auth.SubAppID,
		OutTradeNo: r.OutTradeNo, PayerID: ct.PayerID, Body: r.Description, Attach: r.Attach, DeviceInfo: in.auth.DeviceID,
		CredentialHash: in.hash, Digest: in.digest, Fee: r.Total, MayAdvance: mayAdvance}
}

type withholdInput struct {
	req          DebitRequest
	claims       device.OfflineClaims
	auth         device.AuthInfo
	org          Organisation
	settings     Settings
	notifyURL    string
	now          time.Time
	hash, digest string
}

// inDebitTx runs fn, again when a concurrent twin inserted the same key first: the
// second run sees the twin's committed result.
func (s *Service) inDebitTx(ctx context.Context, fn func(DebitTx) error) error {
	var err error
	for range 3 {
		err = s.debits.InDebitTx(ctx, fn)
		if !pay.LostRace(err) {
			return err
		}
	}
	return err
}

func (s *Service) withhold(ctx context.Context, tx DebitTx, in withholdInput) (Debit, error) {
	r, owner := in.req, in.auth.SubMchID
	if prev, ok, err := tx.DebitRecord(ctx, owner, r.OutTradeNo); err != nil {
		return Debit{}, err
	} else if ok {
		if prev.Digest != in.digest {
			return Debit{}, errcode.E(errcode.Conflict, "out_trade_no %s was already used for another debit", r.OutTradeNo)
		}
		o, _, err := tx.Order(ctx, owner, r.OutTradeNo)
		return Debit{Order: o, Record: prev}, err
	}
	if _, _, used, err := tx.CredentialUsed(ctx, in.hash); err != nil {
		return Debit{}, err
	} else if used {
		return Debit{}, errcode.E(errcode.Invalid, "auth_code was already paid by another out_trade_no; each credential pays once")
	}
	u, ok, err := tx.LockUser(ctx, in.claims.UserID)
	if err != nil {
		return Debit{}, err
	}
	if !ok || u.OrgID != in.org.ID {
		return Debit{}, notFound("the credential's user")
	}
	rec := in.record(u, in.now.In(beijing).Format("20060102"))
	// A user who never signed has no wallet to name; one whose contract ended is
	// refused below with the contract's payer on the order.
	if u.ContractID == "" {
		return Debit{}, errcode.E(errcode.Conflict, "the user has never signed a withholding contract")
	}
	ct, ok, err := tx.ContractInTx(ctx, u.ContractID)
	if err != nil {
		return Debit{}, err
	} else if !ok {
		return Debit{}, errcode.E(errcode.Internal, "the user's contract %s is missing", u.ContractID)
	}
	refusal, mayAdvance, err := s.judge(ctx, tx, in, u, ct, rec)
	if err != nil {
		return Debit{}, err
	}
	w := in.withholding(ct, mayAdvance.ok)
	if refusal != "" {
		w.FailWith = refusalText[refusal]
	}
	o, notEnough, err := s.pay.WithholdInTx(ctx, tx, w, in.now)
	if err != nil {
		return Debit{}, err
	}
	if notEnough {
		refusal = ErrNotEnough
	}
	rec.ErrorType, rec.Counted = refusal, o.State == pay.StateSuccess
	if err := tx.InsertDebit(ctx, rec); err != nil {
		return Debit{}, err
	}
	d := Debit{Order: o, Record: rec}
	if err := s.queue(ctx, tx, in.notifyURL, in.auth.MchID, debitEvent(d), d.View(), in.now); err != nil {
		return Debit{}, err
	}
	// A user whose advances are used up and whose wallet failed again is disabled by
	// the platform; the service provider hears of it.
	if notEnough && mayAdvance.blockedByDebts {
		u.Status, u.DisabledBy, u.UpdatedAt = StatusDisabled, disabledByPlatform, in.now
		if err := tx.SetUserStatus(ctx, u); err != nil {
			return Debit{}, err
		}
		if err := s.queue(ctx, tx, in.notifyURL, in.auth.MchID, EventUserDisabled, userStatusView(u, "DEBT"), in.now); err != nil {
			return Debit{}, err
		}
	}
	return d, nil
}

const disabledByPlatform = "platform"

type advanceDecision struct {
	ok             bool // the platform advances if the wallet cannot pay
	blockedByDebts bool // it would, but the user has MaxOpenAdvances unpaid advances
}

// judge applies the rules that come before money: a refusal reason, or none and
// whether the platform may advance.
func (s *Service) judge(ctx context.Context, tx DebitTx, in withholdInput, u User, ct Contract, rec DebitRecord) (string, advanceDecision, error) {
	none := advanceDecision{}
	spent, err := tx.CountedOn(ctx, u.UserID, rec.Day)
	if err != nil {
		return "", none, err
	}
	if refusal := in.rules(u, ct, rec, spent); refusal != "" {
		return refusal, none, nil
	}
	cardOK := true
	if ct.Mode != LimitNone && ct.Card != "" {
		card, err := s.pay.PayerCard(ctx, tx, ct.PayerID)
		if err != nil {
			return "", none, err
		}
		cardOK = card == ct.Card
	}
	if ct.Mode == LimitBankCard && !cardOK {
		return ErrBankCardMismatch, none, nil
	}
	// Designated-card contracts are never advanced; a PRIORITY_BANK_CARD contract
	// whose wallet does not hold the card was downgraded and is treated as LIMIT_NONE.
	advanceable := in.settings.AdvanceFunding && (ct.Mode == LimitNone || ct.Mode == "" || (ct.Mode == PriorityBankCard && !cardOK))
	if !advanceable {
		return "", none, nil
	}
	debts, err := tx.OpenDebts(ctx, u.UserID)
	if err != nil {
		return "", none, err
	}
	if len(debts) >= MaxOpenAdvances {
		return "", advanceDecision{blockedByDebts: true}, nil
	}
	return "", advanceDecision{ok: true}, nil
}

// rules are the refusals that need no more than the user, the contract and what the
// user's debits took on the day: a reason, or "".
func (in withholdInput) rules(u User, ct Contract, rec DebitRecord, spent int64) string {
	perDebit, perDay := in.settings.limits()
	switch {
	case u.Status == StatusDisabled:
		return ErrUserDisabled
	case u.ContractState != Contracted || ct.State != Contracted:
		return ErrNoContract
	case !in.org.allows(in.now, in.auth.DeviceID):
		return ErrRiskControl
	case rec.Total > perDebit:
		return ErrPaymentLimit
	case spent+rec.Total > perDay:
		return ErrDailyLimit
	}
	return ""
}

// allows tells whether the organisation's risk rules let a debit through at now
// from device.
func (o Organisation) allows(now time.Time, device string) bool {
	if len(o.RiskDevices) > 0 {
		found := false
		for _, d := range o.RiskDevices {
			found = found || strings.EqualFold(d, device)
		}
		if !found {
			return false
		}
	}
	if o.RiskHours == "" {
		return true
	}
	from, to, err := ParseHours(o.RiskHours)
	if err != nil {
		return false // a rule that cannot be read refuses rather than lets through
	}
	t := now.In(beijing)
	m := t.Hour()*60 + t.Minute()
	if from <= to {
		return m >= from && m < to
	}
	return m >= from || m < to // the window wraps midnight
}

var hoursRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$`)

// ParseHours reads "HH:MM-HH:MM" (Beijing time, may wrap midnight) as minutes of the day.
func ParseHours(s string) (from, to int, err error) {
	m := hoursRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, errcode.E(errcode.Invalid, "hours are HH:MM-HH:MM in Beijing time, such as 06:00-20:00 or 22:00-06:00")
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	from, to = n(1)*60+n(2), n(3)*60+n(4)
	if from == to || to > 24*60 {
		return 0, 0, errcode.E(errcode.Invalid, "the hours %q allow no time, or end after 24:00", s)
	}
	return from, to, nil
}

// QueryDebit is GET …/transactions/out-trade-no/{out_trade_no}: a debit of the
// caller's sub-merchant.
func (s *Service) QueryDebit(ctx context.Context, c Caller, subMchID, outTradeNo string, productID int64) (Debit, error) {
	if subMchID == "" || !products[productID] {
		return Debit{}, errcode.E(errcode.Invalid, "sub_mchid and business_product_id (2 or 11) are required")
	}
	d, ok, err := s.debits.DebitByOrder(ctx, subMchID, outTradeNo)
	if err != nil {
		return Debit{}, err
	}
	if !ok || d.Record.SPMchID != c.MchID {
		return Debit{}, notFound("the debit")
	}
	return d, nil
}

// SetRisk sets an organisation's risk rules: allowed hours ("" clears them) and
// devices (none: any device).
func (s *Service) SetRisk(ctx context.Context, orgID, hours string, devices []string) error {
	if hours != "" {
		if _, _, err := ParseHours(hours); err != nil {
			return err
		}
	}
	if _, ok, err := s.store.Organisation(ctx, orgID); err != nil {
		return err
	} else if !ok {
		return notFound("the organisation")
	}
	return s.debits.SetRisk(ctx, orgID, hours, devices)
}
