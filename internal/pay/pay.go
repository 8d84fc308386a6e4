// Package pay is the v2 face-payment domain: authinfo for terminals, payers and their
// one-time credentials (face codes, payment codes), charges through facepay and
// micropay, queries, reverse, close, refunds and bills. Every state change and its
// ledger transfers commit in one transaction; every retryable request is idempotent
// by its business key (out_trade_no, out_refund_no).
package pay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/device"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/notify"
)

// Order states, as trade_state spells them.
const (
	StateSuccess    = "SUCCESS"
	StateRefund     = "REFUND"
	StateNotPay     = "NOTPAY"
	StateClosed     = "CLOSED"
	StateRevoked    = "REVOKED"
	StateUserPaying = "USERPAYING"
	StatePayError   = "PAYERROR"
)

// Credential kinds.
const (
	FaceCode = "face_code"
	PayCode  = "pay_code"
)

// Lifetimes the README states.
const (
	AuthInfoTTL      = time.Hour        // expires_in of get_wxpayface_authinfo
	FaceCodeTTL      = 2 * time.Minute  // a face_code must be charged within this
	PayCodeTTL       = time.Minute      // an 18-digit payment code, as a wallet refreshes it
	PasswordTimeout  = 30 * time.Second // USERPAYING resolves to PAYERROR if the payer does not confirm
	NowSkew          = 5 * time.Minute  // authinfo's `now` must be this close to the platform clock
	ReverseWindow    = 7 * 24 * time.Hour
	RefundWindow     = 365 * 24 * time.Hour
	MaxRefundsPerOrd = 50
)

// Order is a payment.
type Order struct {
	OwnerMchID     string // the merchant whose sale it is (the sub-merchant in SP mode)
	OutTradeNo     string
	TransactionID  string
	MchID          string // the merchant whose key signed the charge
	SubMchID       string
	AppID          string
	SubAppID       string
	API            string // facepay or micropay
	TradeType      string
	PayerID        string
	OpenID         string
	SubOpenID      string
	TotalFee       int64
	FeeType        string
	Body           string
	Attach         string
	DeviceInfo     string
	CredentialHash string
	RequestDigest  string
	State          string
	StateDesc      string
	RefundedFee    int64
	RefundCount    int64
	CreatedAt      time.Time
	PaidAt         time.Time // zero until paid
	DecideBy       time.Time // USERPAYING only
	UpdatedAt      time.Time
	// Funding is what paid the order: the payer's wallet (FundingWallet, also "" for
	// orders older than the field) or the platform's advance (FundingAdvance), which
	// leaves the payer a debt: DebtState IN_DEBT until repaid (REPAID, RepaymentID
	// set) or refunded in full (NO_DEBT).
	Funding     string
	DebtState   string
	RepaymentID string
}

// Refund is one refund of an order.
type Refund struct {
	RefundID      string
	OwnerMchID    string
	OutRefundNo   string
	OutTradeNo    string
	RefundFee     int64
	TotalFee      int64
	Status        string // SUCCESS, PROCESSING, REFUNDCLOSE, CHANGE
	RefundAccount string
	RefundDesc    string
	RequestDigest string
	CreatedAt     time.Time
	SuccessAt     time.Time
}

// Credential is a stored one-time payment credential (only its hash is kept).
type Credential struct {
	Hash         string
	Kind         string
	PayerID      string
	MchID        string // face codes: the authinfo's owner merchant
	AppID        string
	DeviceID     string
	AuthInfoHash string
	ExpiresAt    time.Time
	UsedBy       string
	CreatedAt    time.Time
}

// Payer is a person with a wallet.
type Payer struct {
	PayerID   string
	Phone     string // plaintext in memory; storage seals it
	PhoneTail string
	Card      string // a bank card number the payer holds (K12 designated-card contracts); sealed at rest
	CreatedAt time.Time
}

// Device is a merchant terminal bound to a face SDK identity.
type Device struct {
	MchID       string
	DeviceID    string
	SDKDeviceID string
	DeviceKey   string
	StoreID     string
	CreatedAt   time.Time
	LastSeenAt  time.Time
}

// Fault is an emulator rule: answer ErrCode (or wait Delay first) on the next calls.
type Fault struct {
	ID        string
	MchID     string
	API       string
	ErrCode   string
	Delay     time.Duration
	Remaining int64
	CreatedAt time.Time
}

// ErrDuplicate is returned by inserts whose business key exists: a concurrent twin won.
var ErrDuplicate = errors.New("pay: duplicate business key")

// ErrNotApplied is returned by Store.ApplyPayment when one of the payment's guards
// did not hold (the code was used meanwhile, the order number exists, the wallet is
// short): nothing of it was written, and the interactive path decides the answer.
var ErrNotApplied = errors.New("pay: payment not applied")

// Payment is a charge decided before its transaction, written as guarded writes a
// store can batch with other payments: claim the code (unused), insert the order
// (a new out_trade_no), move the money (the payer's wallet covers it; the credit to
// the settlement account deferred).
type Payment struct {
	Order    Order
	CodeHash string
	UsedBy   string // the claim's mark: owner/out_trade_no
	Transfer ledger.Transfer
}

// Tx is the storage the domain needs inside one transaction. Reads of rows that a
// transaction may change lock them until it ends.
type Tx interface {
	ledger.Store
	notify.Outbox
	Order(ctx context.Context, owner, outTradeNo string) (Order, bool, error)
	OrderByTransactionID(ctx context.Context, owner, transactionID string) (Order, bool, error)
	InsertOrder(ctx context.Context, o Order) error
	UpdateOrder(ctx context.Context, o Order) error
	Credential(ctx context.Context, hash string) (Credential, bool, error)
	InsertCredential(ctx context.Context, c Credential) error
	// ClaimCredential marks an unused credential used by usedBy and returns it;
	// claimed=false (and nothing changed) when it does not exist or is used already.
	ClaimCredential(ctx context.Context, hash, usedBy string) (c Credential, claimed bool, err error)
	Payer(ctx context.Context, payerID string) (Payer, bool, error)
	InsertPayer(ctx context.Context, p Payer) error
	SetPayerCard(ctx context.Context, payerID, card string) error
	Refund(ctx context.Context, owner, outRefundNo string) (Refund, bool, error)
	RefundByID(ctx context.Context, owner, refundID string) (Refund, bool, error)
	RefundsOfOrder(ctx context.Context, owner, outTradeNo string) ([]Refund, error)
	InsertRefund(ctx context.Context, r Refund) error
	UpsertStore(ctx context.Context, mchID, storeID, storeName string, at time.Time) error
	Device(ctx context.Context, mchID, deviceID string) (Device, bool, error)
	PutDevice(ctx context.Context, d Device) error
	TakeFault(ctx context.Context, mchID, api string) (Fault, bool, error)
	InsertFault(ctx context.Context, f Fault) error
	PasswordThreshold(ctx context.Context, mchID string) (int64, error)
	SetPasswordThreshold(ctx context.Context, mchID string, fen int64) error
	BillMode(ctx context.Context, mchID string) (string, error)
	SetBillMode(ctx context.Context, mchID, mode string) error
}

// MerchantState is what a request reads of its merchant before its transaction.
type MerchantState struct {
	Found             bool
	TestClock         time.Time // when OnTestClock
	OnTestClock       bool
	FaultLive         bool // a fault rule for the request's API waits
	PasswordThreshold int64
	// What Also asked for, read in the same statement, when it exists.
	Code       Credential
	CodeFound  bool
	Order      Order
	OrderFound bool
}

// Also names what MerchantState reads beside the merchant, in the same statement.
type Also struct {
	CodeHash string // a charge's face_code or auth_code
	// An order of Owner: by TransactionID when it is given, else by OutTradeNo.
	Owner, OutTradeNo, TransactionID string
}

// Store opens transactions and answers the reads that need none.
type Store interface {
	InPayTx(ctx context.Context, fn func(Tx) error) error
	// TestClock is the merchant's test clock, when it is on one.
	TestClock(ctx context.Context, mchID string) (time.Time, bool, error)
	// HasFault tells, without a write transaction, whether a fault rule is live.
	HasFault(ctx context.Context, mchID, api string) (bool, error)
	// FindOrder reads an order outside any transaction, by transaction_id when it is
	// given, else by out_trade_no.
	FindOrder(ctx context.Context, owner, outTradeNo, transactionID string) (Order, bool, error)
	// MerchantState reads in one statement what a payment request needs to know of
	// its merchant before its transaction, and what also names.
	MerchantState(ctx context.Context, mchID, api string, also Also) (MerchantState, error)
	// ApplyPayment writes p and returns after its commit, or ErrNotApplied.
	ApplyPayment(ctx context.Context, p Payment) error
	OrdersPaidBetween(ctx context.Context, owner string, from, to time.Time) ([]Order, error)
	RefundsCreatedBetween(ctx context.Context, owner string, from, to time.Time) ([]Refund, error)
}

// Service runs the payment domain.
type Service struct {
	opened sync.Map // owners whose settlement account is known to exist
	store  Store
	sealer device.Sealer
	clock  clock.Clock
	secret []byte // derives openids; stable for a platform
}

// Config wires a Service.
type Config struct {
	Store  Store
	Sealer device.Sealer
	Clock  clock.Clock
	// OpenIDSecret keys the openid derivation; it must not change over a platform's life.
	OpenIDSecret []byte
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	return &Service{store: cfg.Store, sealer: cfg.Sealer, clock: cfg.Clock, secret: cfg.OpenIDSecret}
}

// now is the time for a merchant: its test clock when it has one, else the platform
// clock. A store that cannot answer falls back to the platform clock, which is the
// only clock production merchants ever have.
func (s *Service) now(ctx context.Context, mchID string) time.Time {
	t, ok, err := s.store.TestClock(ctx, mchID)
	return s.NowWith(t, ok && err == nil)
}

// Account names in the ledger.
func walletAccount(payerID string) string { return "wallet:" + payerID }

// settlementAccount collects every payment to the merchant: transfers credit it
// deferred (ledger.Request.DeferCredit) and fold before debiting it (FoldDebit).
func settlementAccount(mchID string) string { return "settlement:" + mchID }

const bankAccount = "external:bank"

// payKey is the ledger key of an order's payment transfer.
func payKey(owner, outTradeNo string) string { return "pay:" + owner + "/" + outTradeNo }
