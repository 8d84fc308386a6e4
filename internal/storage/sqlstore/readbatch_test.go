package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

const merchantByID = `SELECT mch_id, name FROM merchants WHERE mch_id = ?`

// batchedMerchants opens a PostgreSQL store with n merchants, named after their index.
func batchedMerchants(t *testing.T, n int) (storagetest.Backend, []string) {
	t.Helper()
	b := storagetest.Open(t, "postgres")
	ids := make([]string, n)
	for i := range ids {
		cr := storagetest.Must(tenant.NewService(b.DB, clock.Real{}).Create(context.Background(), tenant.NewMerchant{Name: fmt.Sprintf("Batched %d", i)}))
		ids[i] = cr.MchID
	}
	return b, ids
}

// readerConnections counts the store's reader connections, or ends them.
func readerConnections(t *testing.T, b storagetest.Backend, end bool) int {
	t.Helper()
	u := storagetest.Must(url.Parse(b.Config.URL))
	db := storagetest.Must(sql.Open("pgx", b.Config.URL))
	defer db.Close()
	q := `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`
	if end {
		q = `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`
	}
	var n int
	if err := db.QueryRow(q, strings.TrimSpace(sqlstore.ReaderApp+" "+u.Query().Get("search_path"))).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Many callers reading at once each get their own row, through the batcher's own
// connections, and a read of no row answers sql.ErrNoRows.
func TestBatchedReadsAnswerTheirCallers(t *testing.T) {
	t.Parallel()
	b, ids := batchedMerchants(t, 8)
	ctx := context.Background()
	var wg sync.WaitGroup
	for c := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 50 {
				i := (c + k) % (len(ids) + 1)
				var id, name string
				if i == len(ids) {
					if err := b.DB.Row(ctx, merchantByID, "NOSUCH").Scan(&id, &name); !errors.Is(err, sql.ErrNoRows) {
						t.Errorf("a missing merchant read %q, %v; want sql.ErrNoRows", id, err)
					}
					continue
				}
				if err := b.DB.Row(ctx, merchantByID, ids[i]).Scan(&id, &name); err != nil || id != ids[i] || name != fmt.Sprintf("Batched %d", i) {
					t.Errorf("caller %d asked for %s (Batched %d), read %s %q, %v", c, ids[i], i, id, name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := readerConnections(t, b, false); n < 1 {
		t.Fatalf("%d reader connections after the reads: they did not go through the batcher", n)
	}
}

// A read whose statement fails answers its own error, whether it fails when prepared
// (which fails the whole batch) or when executed (the server skips the rest of the
// batch); the other reads go again and answer as if alone. A read whose caller left is
// not scanned into.
func TestBatchedReadFailuresStayTheirOwn(t *testing.T) {
	t.Parallel()
	b, ids := batchedMerchants(t, 3)
	for _, failing := range []struct{ q, code string }{
		{`SELECT 1 / (? - ?)`, "42725"},                                   // ambiguous: refused when prepared
		{`SELECT 1 / (CAST(? AS integer) - CAST(? AS integer))`, "22012"}, // division by zero
	} {
		var id0, name0, id1, name1, id2, name2, gone string
		var quotient int
		errs := b.DB.SendReads([]sqlstore.BatchedRead{
			{Q: merchantByID, Args: []any{ids[0]}, Dest: []any{&id0, &name0}},
			{Q: failing.q, Args: []any{7, 7}, Dest: []any{&quotient}},
			{Q: merchantByID, Args: []any{ids[1]}, Dest: []any{&id1, &name1}},
			{Q: merchantByID, Args: []any{"NOSUCH"}, Dest: []any{&gone, &gone}},
			{Q: merchantByID, Args: []any{ids[2]}, Dest: []any{&gone, &gone}, Abandoned: true},
			{Q: merchantByID, Args: []any{ids[2]}, Dest: []any{&id2, &name2}},
		})
		if errs[0] != nil || id0 != ids[0] || name0 != "Batched 0" {
			t.Errorf("%s: the read before the failure: %s %q, %v", failing.code, id0, name0, errs[0])
		}
		if !strings.Contains(fmt.Sprint(errs[1]), failing.code) {
			t.Errorf("the failing read answered %v, want its own error (SQLSTATE %s)", errs[1], failing.code)
		}
		if errs[2] != nil || id1 != ids[1] || name1 != "Batched 1" {
			t.Errorf("%s: the read after the failure: %s %q, %v", failing.code, id1, name1, errs[2])
		}
		if !errors.Is(errs[3], sql.ErrNoRows) || gone != "" {
			t.Errorf("%s: the missing merchant: %q, %v; want sql.ErrNoRows", failing.code, gone, errs[3])
		}
		if errs[5] != nil || id2 != ids[2] || name2 != "Batched 2" {
			t.Errorf("%s: the read after an abandoned one: %s %q, %v", failing.code, id2, name2, errs[5])
		}
	}
}

// A cut reader connection loses no read: the reads it was carrying go again on a new
// connection, and so do the ones after.
func TestBatchedReadsSurviveACutConnection(t *testing.T) {
	t.Parallel()
	b, ids := batchedMerchants(t, 2)
	ctx := context.Background()
	read := func() {
		var wg sync.WaitGroup
		for c := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var id, name string
				if err := b.DB.Row(ctx, merchantByID, ids[c%2]).Scan(&id, &name); err != nil || id != ids[c%2] {
					t.Errorf("read %d after the cut: %s, %v", c, id, err)
				}
			}()
		}
		wg.Wait()
	}
	read()
	if n := readerConnections(t, b, true); n < 1 {
		t.Fatalf("cut %d reader connections, want at least 1", n)
	}
	read()
	read()
}
