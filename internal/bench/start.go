package bench

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
)

// freshStore opens an empty store: SQLite in a temporary directory, or a throw-away
// schema on the PostgreSQL server of dbURL. done removes it.
func freshStore(ctx context.Context, dbURL string) (db *sqlstore.DB, done func(), err error) {
	dir, err := os.MkdirTemp("", "facepay-bench")
	if err != nil {
		return nil, nil, err
	}
	cleanups := []func(){func() { os.RemoveAll(dir) }}
	done = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if dbURL != "" {
		var drop func() error
		if dbURL, drop, err = sqlstore.NewSchema(ctx, dbURL, "bench"); err != nil {
			done()
			return nil, nil, err
		}
		cleanups = append(cleanups, func() { _ = drop() })
	}
	if db, err = platform.OpenStore(ctx, platform.StoreConfig{DataDir: dir, DBURL: dbURL}); err != nil {
		done()
		return nil, nil, err
	}
	cleanups = append(cleanups, func() { db.Close() })
	return db, done, nil
}

// serving runs a platform over a fresh store on loopback until stop is called.
func serving(ctx context.Context, dbURL string, cfg platform.Config) (p *platform.Platform, stop func(), err error) {
	db, done, err := freshStore(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	cfg.Addr, cfg.Logger = "127.0.0.1:0", slog.New(slog.DiscardHandler)
	if p, err = platform.New(runCtx, db, cfg); err != nil {
		cancel()
		done()
		return nil, nil, err
	}
	ran := make(chan error, 1)
	go func() { ran <- p.Run(runCtx, 5*time.Second) }()
	return p, func() { cancel(); <-ran; done() }, nil
}
