package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/errcode"
)

// Kind is what an account is for.
type Kind string

// Account kinds. External is the world outside the platform (bank top-ups and
// withdrawals); it is the only kind that is normally allowed to go negative.
const (
	Wallet     Kind = "wallet"     // a payer's money
	Settlement Kind = "settlement" // a merchant's takings, awaiting settlement
	Refund     Kind = "refund"     // money in transit back to payers
	Advance    Kind = "advance"    // advance funding paid to merchants on behalf of payers (K12 debts)
	External   Kind = "external"   // the outside world
)

// State of a transfer.
type State string

// Transfer states. Pending reserves; Posted moves; Voided releases a reservation.
const (
	Pending State = "pending"
	Posted  State = "posted"
	Voided  State = "voided"
)

// Account is a ledger account. Balance is credits minus debits that are posted.
type Account struct {
	ID             string
	Kind           Kind
	MayGoNegative  bool
	Balance        int64
	PendingDebits  int64
	PendingCredits int64
	CreatedAt      time.Time
}

// Available is what the account may still spend: posted balance less pending debits.
func (a Account) Available() int64 { return a.Balance - a.PendingDebits }

// Transfer is one movement of Amount fen from Debit to Credit.
type Transfer struct {
	Key       string // idempotency key, unique in the ledger
	Debit     string
	Credit    string
	Amount    int64
	Code      string // what the transfer is for, e.g. "pay", "refund", "topup"
	TwoPhase  bool   // created pending; its State tells whether it was posted or voided since
	State     State
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Request asks for a transfer.
type Request struct {
	Key     string
	Debit   string
	Credit  string
	Amount  int64
	Code    string
	Pending bool // hold the amount; Post or Void later
	// Fresh: the caller knows Key was never used (it derives from a business key the
	// same transaction has just inserted under a unique constraint), so the lookup of
	// an earlier transfer is skipped. A duplicate still fails, on the unique key.
	Fresh bool
	// DeferCredit: the credit account collects from many payers at once (a merchant's
	// settlement account). A posted credit to it is recorded beside the account and
	// folded into its balance later (Store.Fold), so concurrent transfers do not queue
	// on its row until they commit. Its balance reads the same either way.
	DeferCredit bool
	// FoldDebit: the debit account may hold deferred credits; they are folded first, so
	// the debit can spend them.
	FoldDebit bool
}

// ErrDuplicateKey is returned by Store.InsertTransfer when the key already exists; it
// happens only when two transactions race on one key, and a retry resolves it.
var ErrDuplicateKey = errors.New("ledger: duplicate transfer key")

// Store is the storage the engine needs, scoped to one open transaction.
type Store interface {
	// InsertAccount creates the account unless one with its id exists, and returns the stored one.
	InsertAccount(ctx context.Context, a Account) (Account, error)
	// LockAccounts returns the accounts, locked for update until the transaction ends;
	// a missing id is absent from the map. Implementations lock in a stable order.
	LockAccounts(ctx context.Context, ids ...string) (map[string]Account, error)
	Account(ctx context.Context, id string) (Account, error)
	UpdateAccount(ctx context.Context, a Account) error
	// Debit takes amount from the account (posted, or as a pending debit) unless that
	// would leave an account that may not go negative with less than zero available;
	// false when it did not (or the account does not exist).
	Debit(ctx context.Context, id string, amount int64, pending bool) (bool, error)
	// Credit adds amount to the account (posted, or as a pending credit); false when
	// the account does not exist.
	Credit(ctx context.Context, id string, amount int64, pending bool) (bool, error)
	// TransferByKey returns the transfer with key, or found=false. The transfer stays
	// locked until the transaction ends, so two settlements of one hold cannot both apply.
	TransferByKey(ctx context.Context, key string) (t Transfer, found bool, err error)
	// InsertTransfer stores a new transfer; ErrDuplicateKey when its key exists.
	InsertTransfer(ctx context.Context, t Transfer) error
	// CreditLater records the posted credit of transfer key to id, to be folded into
	// the account's balance; Account counts it from the start. Only the sum of an
	// account's deferred credits is ever read, so a store may keep those of one
	// transaction as one record, or, where its commits never run concurrently (SQLite's
	// one writer), credit the account at once.
	CreditLater(ctx context.Context, key, id string, amount int64) error
	// Fold moves the deferred credits of id into its balance.
	Fold(ctx context.Context, id string) error
	UpdateTransferState(ctx context.Context, key string, s State, at time.Time) error
}

// Open creates an account (idempotent: an existing account with the same id is returned
// when it has the same kind and sign rule).
func Open(ctx context.Context, s Store, now time.Time, id string, kind Kind, mayGoNegative bool) (Account, error) {
	if id == "" {
		return Account{}, errcode.E(errcode.Invalid, "account id is empty")
	}
	a, err := s.InsertAccount(ctx, Account{ID: id, Kind: kind, MayGoNegative: mayGoNegative, CreatedAt: now})
	if err != nil {
		return Account{}, fmt.Errorf("open account %s: %w", id, err)
	}
	if a.Kind != kind || a.MayGoNegative != mayGoNegative {
		return Account{}, errcode.E(errcode.Conflict, "account %s exists with another kind", id)
	}
	return a, nil
}

// Apply makes a transfer, or returns the first result for a key already used with the same content.
//
// The balances change by relative updates, and the credit comes last: an account
// that everybody pays into (a merchant's settlement account) is then locked only from
// its update to the commit, not for the whole transfer.
func Apply(ctx context.Context, s Store, now time.Time, r Request) (Transfer, error) {
	if err := validate(r); err != nil {
		return Transfer{}, err
	}
	if !r.Fresh {
		if t, found, err := s.TransferByKey(ctx, r.Key); err != nil {
			return Transfer{}, err
		} else if found {
			return sameRequest(t, r)
		}
	}
	if r.FoldDebit {
		if err := s.Fold(ctx, r.Debit); err != nil {
			return Transfer{}, err
		}
	}
	ok, err := s.Debit(ctx, r.Debit, r.Amount, r.Pending)
	if err != nil {
		return Transfer{}, err
	}
	if !ok {
		a, err := s.Account(ctx, r.Debit)
		if err != nil {
			return Transfer{}, err
		}
		return Transfer{}, errcode.E(errcode.InsufficientFunds, "account %s has %d fen available, %d needed", a.ID, a.Available(), r.Amount)
	}
	t := Transfer{Key: r.Key, Debit: r.Debit, Credit: r.Credit, Amount: r.Amount, Code: r.Code, TwoPhase: r.Pending, State: Posted, CreatedAt: now, UpdatedAt: now}
	if r.Pending {
		t.State = Pending
	}
	if err := s.InsertTransfer(ctx, t); err != nil {
		return Transfer{}, err
	}
	if r.DeferCredit && !r.Pending {
		// The transfer's row already proved the credit account exists (its foreign key).
		return t, s.CreditLater(ctx, r.Key, r.Credit, r.Amount)
	}
	if ok, err := s.Credit(ctx, r.Credit, r.Amount, r.Pending); err != nil {
		return Transfer{}, err
	} else if !ok {
		return Transfer{}, errcode.E(errcode.NotFound, "account %s does not exist", r.Credit)
	}
	return t, nil
}

// Post completes a pending transfer. Posting a posted transfer returns it unchanged.
func Post(ctx context.Context, s Store, now time.Time, key string) (Transfer, error) {
	return settle(ctx, s, now, key, Posted)
}

// Void releases a pending transfer. Voiding a voided transfer returns it unchanged.
func Void(ctx context.Context, s Store, now time.Time, key string) (Transfer, error) {
	return settle(ctx, s, now, key, Voided)
}

func settle(ctx context.Context, s Store, now time.Time, key string, to State) (Transfer, error) {
	t, found, err := s.TransferByKey(ctx, key)
	if err != nil {
		return Transfer{}, err
	}
	if !found {
		return Transfer{}, errcode.E(errcode.NotFound, "transfer %s does not exist", key)
	}
	switch t.State {
	case to:
		return t, nil
	case Pending:
	default:
		return Transfer{}, errcode.E(errcode.Conflict, "transfer %s is %s, cannot become %s", key, t.State, to)
	}
	accts, err := s.LockAccounts(ctx, t.Debit, t.Credit)
	if err != nil {
		return Transfer{}, err
	}
	debit, credit := accts[t.Debit], accts[t.Credit]
	debit.PendingDebits -= t.Amount
	credit.PendingCredits -= t.Amount
	if to == Posted {
		debit.Balance -= t.Amount
		credit.Balance += t.Amount
	}
	if err := s.UpdateAccount(ctx, debit); err != nil {
		return Transfer{}, err
	}
	if err := s.UpdateAccount(ctx, credit); err != nil {
		return Transfer{}, err
	}
	if err := s.UpdateTransferState(ctx, key, to, now); err != nil {
		return Transfer{}, err
	}
	t.State, t.UpdatedAt = to, now
	return t, nil
}

func validate(r Request) error {
	switch {
	case r.Key == "":
		return errcode.E(errcode.Invalid, "transfer key is empty")
	case r.Amount <= 0:
		return errcode.E(errcode.Invalid, "transfer amount must be positive fen, got %d", r.Amount)
	case r.Debit == "" || r.Credit == "":
		return errcode.E(errcode.Invalid, "transfer needs a debit and a credit account")
	case r.Debit == r.Credit:
		return errcode.E(errcode.Invalid, "transfer debits and credits the same account %s", r.Debit)
	}
	return nil
}

// sameRequest decides a replay: the first result when the content matches, a conflict otherwise.
func sameRequest(t Transfer, r Request) (Transfer, error) {
	if t.Debit != r.Debit || t.Credit != r.Credit || t.Amount != r.Amount || t.Code != r.Code || t.TwoPhase != r.Pending {
		return Transfer{}, errcode.E(errcode.Conflict, "transfer key %s was used for another transfer", r.Key)
	}
	return t, nil
}

// TxRunner opens a storage transaction for the engine.
type TxRunner interface {
	InLedgerTx(ctx context.Context, fn func(Store) error) error
}

// Ledger runs single operations, each in its own transaction.
type Ledger struct {
	db    TxRunner
	clock clock.Clock
}

// New returns a Ledger over db.
func New(db TxRunner, c clock.Clock) *Ledger { return &Ledger{db: db, clock: c} }

// Open creates an account; see the package-level Open.
func (l *Ledger) Open(ctx context.Context, id string, kind Kind, mayGoNegative bool) (a Account, err error) {
	err = l.db.InLedgerTx(ctx, func(s Store) error {
		a, err = Open(ctx, s, l.clock.Now(), id, kind, mayGoNegative)
		return err
	})
	return a, err
}

// Transfer applies r in its own transaction. A race on one key between two
// transactions is resolved by running again, which then finds the winner's transfer.
func (l *Ledger) Transfer(ctx context.Context, r Request) (t Transfer, err error) {
	return retryDuplicate(func() (Transfer, error) {
		err = l.db.InLedgerTx(ctx, func(s Store) error {
			t, err = Apply(ctx, s, l.clock.Now(), r)
			return err
		})
		return t, err
	})
}

// Post posts a pending transfer in its own transaction.
func (l *Ledger) Post(ctx context.Context, key string) (t Transfer, err error) {
	err = l.db.InLedgerTx(ctx, func(s Store) error {
		t, err = Post(ctx, s, l.clock.Now(), key)
		return err
	})
	return t, err
}

// Void voids a pending transfer in its own transaction.
func (l *Ledger) Void(ctx context.Context, key string) (t Transfer, err error) {
	err = l.db.InLedgerTx(ctx, func(s Store) error {
		t, err = Void(ctx, s, l.clock.Now(), key)
		return err
	})
	return t, err
}

// Account reads one account.
func (l *Ledger) Account(ctx context.Context, id string) (a Account, err error) {
	err = l.db.InLedgerTx(ctx, func(s Store) error {
		a, err = s.Account(ctx, id)
		return err
	})
	return a, err
}

func retryDuplicate(run func() (Transfer, error)) (Transfer, error) {
	t, err := run()
	if errors.Is(err, ErrDuplicateKey) {
		return run()
	}
	return t, err
}

// Audit is a recomputation of the whole ledger. A healthy ledger has SumBalance 0,
// SumPendingDebits == SumPendingCredits, Negative 0 and no Mismatched accounts.
type Audit struct {
	Accounts          int64
	Transfers         int64
	SumBalance        int64
	SumPendingDebits  int64
	SumPendingCredits int64
	Negative          int64    // accounts that may not go negative and did
	Mismatched        []string // accounts whose stored balances differ from their transfers
}

// Balanced reports whether the audit found nothing wrong.
func (a Audit) Balanced() bool {
	return a.SumBalance == 0 && a.SumPendingDebits == a.SumPendingCredits && a.Negative == 0 && len(a.Mismatched) == 0
}

// Auditor recomputes the ledger.
type Auditor interface {
	AuditLedger(ctx context.Context) (Audit, error)
}
