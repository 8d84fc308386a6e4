package sqlstore

import (
	"context"
	"errors"

	"github.com/openfacepay/openfacepay/internal/pay"
)

// MerchantCached tells whether the store serves mchID from its merchant cache.
func (db *DB) MerchantCached(mchID string) bool { return db.cached(cacheKey{keyMerchant, mchID}) }

// CertCached tells whether the store serves a merchant certificate from the cache.
func (db *DB) CertCached(serialNo string) bool { return db.cached(cacheKey{keyCert, serialNo}) }

// IdentitiesCached tells whether the store serves mchID's platform identities from
// the cache.
func (db *DB) IdentitiesCached(mchID string) bool { return db.cached(cacheKey{keyIdentities, mchID}) }

func (db *DB) cached(k cacheKey) bool {
	if db.merchants == nil {
		return false
	}
	db.merchants.mu.Lock()
	defer db.merchants.mu.Unlock()
	_, ok := db.merchants.items[k]
	return ok
}

// Row reads one row as the store's own single-row reads do: batched on PostgreSQL.
func (db *DB) Row(ctx context.Context, q string, args ...any) interface{ Scan(...any) error } {
	return db.row(ctx, q, args...)
}

// BatchedRead is one read of a batch that SendReads sends; Abandoned reads have a
// caller that gave up before the batch was answered.
type BatchedRead struct {
	Q         string
	Args      []any
	Dest      []any
	Abandoned bool
}

// SendReads sends reads as one batch over a new reader connection, as a reader sends
// what queued, and returns each read's answer (nil for an abandoned one).
func (db *DB) SendReads(reads []BatchedRead) []error {
	jobs := make([]*readJob, len(reads))
	for i, r := range reads {
		jobs[i] = &readJob{q: db.reads.rebind(r.Q), args: r.Args, dest: r.Dest, done: make(chan error, 1)}
		if r.Abandoned {
			jobs[i].state.Store(jobAbandoned)
		}
	}
	if conn := db.reads.send(nil, jobs, true); conn != nil {
		_ = conn.Close(context.Background())
	}
	errs := make([]error, len(reads))
	for i, j := range jobs {
		if !reads[i].Abandoned {
			errs[i] = <-j.done
		}
	}
	return errs
}

// StateCached tells whether MerchantState serves mchID's state for api from the cache.
func (db *DB) StateCached(mchID, api string) bool {
	return db.cached(cacheKey{keyState, mchID}) && db.cached(faultKey(mchID, api))
}

// DropCached forgets what this store's cache holds of mchID, as a change of it would.
func (db *DB) DropCached(mchID string) { db.merchants.drop(mchID) }

// OrderReadSQL is each statement that reads an order by its key outside a transaction,
// by the key's column, as sent to this store's database.
func (db *DB) OrderReadSQL() map[string][]string {
	return map[string][]string{
		"out_trade_no":   {db.d.rebind(sqlOrderByNo), db.d.rebind(sqlMerchantStateByNo), db.d.rebind(sqlCodeAndOrderByNo)},
		"transaction_id": {db.d.rebind(sqlOrderByTxID), db.d.rebind(sqlMerchantStateByTxID), db.d.rebind(sqlCodeAndOrderByTxID)},
	}
}

// UserByIDSQL is the reader's statement for a K12 user by its id, as sent to this
// store's database.
func (db *DB) UserByIDSQL() string { return db.d.rebind(sqlUserByID) }

// OrdersPaidSQL is the bill's read of orders, as sent to this store's database.
func (db *DB) OrdersPaidSQL() string { return db.d.rebind(sqlOrdersPaidBetween) }

// DebitReadSQL is the statement of DebitRead as sent to this store's database.
func (db *DB) DebitReadSQL() string { return db.d.rebind(sqlDebitRead) }

// ClaimSQL is the statement that claims due notifications, as sent to this store's
// database (RETURNING only the id).
func (db *DB) ClaimSQL() string {
	return db.d.rebind(sqlClaimDue + db.d.skipLocked() + `) RETURNING id`)
}

// CodeCached tells whether the store knows the code hash from its own minting.
func (db *DB) CodeCached(hash string) bool {
	_, ok := db.codes.get(hash)
	return ok
}

// ApplyPaymentsTogether applies ps as one batch of a pipeline on a connection of its
// own (PostgreSQL), as the store's pipeline applies what queued, and returns each
// payment's answer and the statements the batch sent. Each of also joins the batch
// after the payments as a write of that one statement.
func (db *DB) ApplyPaymentsTogether(ps []pay.Payment, also ...string) ([]error, int64) {
	errs, _, sent, _ := db.ApplyChained(ps, also, nil)
	return errs, sent
}

// ApplyChained is ApplyPaymentsTogether(first, also...) with the payments of behind
// waiting while that batch runs, as payments that arrive meanwhile wait for the
// store's pipeline: it returns the answers to first and to behind, the statements
// sent, and how many batches were sent while the one before them committed.
func (db *DB) ApplyChained(first []pay.Payment, also []string, behind []pay.Payment) (errFirst, errBehind []error, sent, chained int64) {
	p := &pipeline{config: db.pipe.config, rebinder: rebinder{d: db.d}, jobs: make(chan *pipeJob, len(behind))}
	job := func(steps []step) *pipeJob {
		return &pipeJob{ctx: context.Background(), steps: steps, done: make(chan error, 1)}
	}
	var jobs, waiting []*pipeJob
	for _, pm := range first {
		db.codes.drop(pm.CodeHash)
		jobs = append(jobs, job(paymentSteps(db.d, pm)))
	}
	for _, q := range also {
		jobs = append(jobs, job([]step{{q: q}}))
	}
	for _, pm := range behind {
		db.codes.drop(pm.CodeHash)
		waiting = append(waiting, job(paymentSteps(db.d, pm)))
		p.jobs <- waiting[len(waiting)-1]
	}
	for next := p.commit(&flight{jobs: jobs}); next != nil; {
		next = p.commit(next)
	}
	if len(p.jobs) > 0 { // not taken while the first batch ran
		next := &flight{jobs: waiting[len(waiting)-len(p.jobs):]}
		for range len(p.jobs) {
			<-p.jobs
		}
		for next != nil {
			next = p.commit(next)
		}
	}
	p.drop()
	answers := func(jobs []*pipeJob) []error {
		errs := make([]error, len(jobs))
		for i, j := range jobs {
			if errs[i] = <-j.done; errors.Is(errs[i], errGuard) {
				errs[i] = pay.ErrNotApplied
			}
		}
		return errs
	}
	return answers(jobs[:len(first)]), answers(waiting), p.sent.Load(), p.chained.Load()
}

// MergeRows says whether the pipeline sends a batch's rows of one table as one INSERT.
func (db *DB) MergeRows(on bool) {
	if db.pipe != nil {
		db.pipe.unmerged.Store(!on)
	}
}

// StopFolding stops the store's folding of deferred credits, so a test reads them as
// its writes left them.
func (db *DB) StopFolding() {
	db.fold.stop()
	db.fold = nil
}

// ChainBatches says whether the pipeline sends a batch while the one before it
// commits.
func (db *DB) ChainBatches(on bool) {
	if db.pipe != nil {
		db.pipe.unchained.Store(!on)
	}
}

// SumCredits says whether the pipeline sends a batch's deferred credits to one account
// as one row (step.sum).
func (db *DB) SumCredits(on bool) {
	if db.pipe != nil {
		db.pipe.unsummed.Store(!on)
	}
}

// PipelineManySQL is the pipeline's statements that change n rows of a table each,
// by table, as sent to this store's database.
func (db *DB) PipelineManySQL(n int) map[string]string {
	return map[string]string{
		"ledger_accounts": db.d.rebind(debitMany(n)),
		"pay_credentials": db.d.rebind(claimMany(n)),
	}
}

// PipelineSettings are the session settings of the pipeline's connection.
var PipelineSettings = pipelineSettings

// MaxRows bounds the rows of one of the pipeline's merged statements.
const MaxRows = maxRows
