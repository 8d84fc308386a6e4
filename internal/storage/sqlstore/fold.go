package sqlstore

import (
	"context"
	"time"
)

// foldEvery is how often deferred credits are folded into their accounts' balances
// (see ledger.Request.DeferCredit): the table of deferred credits stays about one
// interval of payments long, which keeps reading a balance (its sum) cheap.
const foldEvery = time.Second

func startFolder(db *DB) *ticker {
	return startTicker(foldEvery, func() {
		if _, err := db.FoldDeferred(context.Background()); err != nil {
			db.log.Warn("ledger fold", "err", err)
		}
	})
}
