package sqlstore

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// foldEvery is how often deferred credits are folded into their accounts' balances
// (see ledger.Request.DeferCredit): the table of deferred credits stays about one
// interval of payments long, which keeps reading a balance (its sum) cheap.
const foldEvery = time.Second

type folder struct {
	db   *DB
	log  *slog.Logger
	quit chan struct{}
	wg   sync.WaitGroup
}

func startFolder(db *DB) *folder {
	f := &folder{db: db, log: db.log, quit: make(chan struct{})}
	f.wg.Add(1)
	go f.run()
	return f
}

func (f *folder) run() {
	defer f.wg.Done()
	t := time.NewTicker(foldEvery)
	defer t.Stop()
	for {
		select {
		case <-f.quit:
			return
		case <-t.C:
		}
		if _, err := f.db.FoldDeferred(context.Background()); err != nil {
			f.log.Warn("ledger fold", "err", err)
		}
	}
}

func (f *folder) stop() {
	close(f.quit)
	f.wg.Wait()
}
