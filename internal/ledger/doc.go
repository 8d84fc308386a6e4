// Package ledger is the double-entry engine that every movement of money goes through.
//
// Amounts are int64 fen. A transfer debits one account and credits another by the same
// amount, so the sum of all balances is zero at every commit. A transfer carries an
// idempotency key: the same key with the same content returns the first result, the
// same key with other content is a conflict. A transfer is either posted at once or held
// pending (reserving the amount on both sides) and later posted or voided, which is what
// a payment that can still be reversed needs. Accounts that may not go negative never
// do: the available balance (posted minus pending debits) is checked under a row lock.
//
// The engine runs inside a storage transaction that the caller owns (Apply, Post, Void
// take a Store), so a domain state change and its transfers commit together; Ledger is
// the convenience wrapper that opens the transaction itself.
package ledger
