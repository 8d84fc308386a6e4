package sqlstore

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// Checkpoints run beside the writer, not inside its commits. SQLite's automatic
// checkpoint runs in whichever commit finds the WAL past 1 000 pages: on the one writer
// that is every payment of that batch waiting while pages are copied into the database
// file and it is fsynced (measured: a tenth of the committer's CPU, and its longest
// stalls). The writer turns the automatic checkpoint off and this goroutine runs a
// PASSIVE checkpoint on a connection of its own, which copies what no reader still
// needs without taking the write lock. A WAL that still grows past walRestartPages
// (readers kept it from being reused) gets a RESTART checkpoint, which waits for the
// writer once so the next commit starts the WAL from its beginning.
const (
	checkpointEvery = 250 * time.Millisecond
	walRestartPages = 64 << 10 // 256 MiB of 4 KiB pages
)

type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	tick *ticker
}

func startCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log}
	c.tick = startTicker(checkpointEvery, c.run)
	return c
}

func (c *checkpointer) run() {
	pages, err := c.checkpoint("PASSIVE")
	if err == nil && pages > walRestartPages {
		_, err = c.checkpoint("RESTART")
	}
	if err != nil {
		c.log.Warn("sqlite checkpoint", "err", err)
	}
}

// checkpoint runs one checkpoint and returns the WAL's length in pages.
func (c *checkpointer) checkpoint(mode string) (int64, error) {
	var busy, walPages, copied int64
	err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &walPages, &copied)
	return walPages, err
}

// stop ends the goroutine; closing the last connection checkpoints what is left.
func (c *checkpointer) stop() {
	c.tick.stop()
	c.db.Close()
}
