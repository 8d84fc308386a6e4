package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

// Every read of k12_debits in a debit's read is an index lookup by its own keys (the
// student and day, the credential, the order number), even in the generic plan
// PostgreSQL keeps for a prepared statement once it was planned on a small table.
// When the day's sum said `counted = 1` in its WHERE clause, that plan took the
// partial credential index (whose predicate is counted = 1) and filtered every
// counted debit of the platform: each debit of a lunch hour read all before it.
func TestDebitReadLooksUpItsOwnRows(t *testing.T) {
	b := storagetest.Open(t, "postgres")
	lines := genericPlan(t, b, b.DB.DebitReadSQL(), "'2026-12-04', 'C', 'M', 'O', 'ORG', 'U', 'SP'")
	plan := strings.Join(lines, "\n")
	scans := scansOn(lines, "k12_debits")
	for _, scan := range scans {
		want := map[string]string{"k12_debits_user_day": "user_id", "k12_debits_credential": "credential_hash", "k12_debits_pkey": "out_trade_no"}
		ok := false
		for index, key := range want {
			ok = ok || scan.lookup(index, key)
		}
		if !ok {
			t.Fatalf("a read of k12_debits is not a lookup by its own key:\n%s\n\n%s", scan.line, plan)
		}
	}
	if len(scans) != 3 {
		t.Fatalf("%d reads of k12_debits, want 3 (the day's sum, the credential, the order number):\n%s", len(scans), plan)
	}
}

// Every read of an order by its out_trade_no or transaction_id (orderquery, and the
// state a charge reads first) is a lookup by that key, even in the generic plan
// planned on an empty table. While orders_paid was a full index on (owner_mch_id,
// paid_at), that plan took it and filtered every order of the merchant: orderquery
// fell from 15 000 to 400 a second once 10 000 orders were in.
func TestOrderReadsLookUpTheirKey(t *testing.T) {
	b := storagetest.Open(t, "postgres")
	index := map[string]string{"out_trade_no": "orders_pkey", "transaction_id": "orders_transaction_id_key"}
	for key, statements := range b.DB.OrderReadSQL() {
		for _, q := range statements {
			args := make([]string, strings.Count(q, "$"))
			for i := range args {
				args[i] = "'x'"
			}
			lines := genericPlan(t, b, q, strings.Join(args, ", "))
			plan := strings.Join(lines, "\n")
			scans := scansOn(lines, "orders")
			for _, scan := range scans {
				if !scan.lookup(index[key], key) {
					t.Fatalf("a read of an order by %s is not a lookup by %s:\n%s\n\n%s", key, index[key], scan.line, plan)
				}
			}
			if len(scans) != 1 {
				t.Fatalf("%d reads of orders, want 1:\n%s", len(scans), plan)
			}
		}
	}
	// The bill still reads the day's paid orders through the partial index.
	bill := strings.Join(genericPlan(t, b, b.DB.OrdersPaidSQL(), "'m', 0, 1"), "\n")
	if !strings.Contains(bill, "using orders_paid on orders") || !strings.Contains(bill, "paid_at >=") {
		t.Fatalf("the bill does not read paid orders through orders_paid:\n%s", bill)
	}
}

// A K12 user is read through the reader by its primary key; the organisation is
// compared after the read, so the plan has no other index to take. With the
// organisation in the WHERE clause the generic plan took the (organization_id,
// out_user_id) index and filtered the organisation's users.
func TestUserByIDUsesThePrimaryKey(t *testing.T) {
	b := storagetest.Open(t, "postgres")
	plan := strings.Join(genericPlan(t, b, b.DB.UserByIDSQL(), "'x'"), "\n")
	if !strings.Contains(plan, "using k12_users_pkey on") || strings.Contains(plan, "Filter:") {
		t.Fatalf("a user by id is not a lookup on k12_users_pkey:\n%s", plan)
	}
}

// The statements of interactive transactions and reads on the store's pool are planned
// for each execution, so a plan follows the table as it grows. PostgreSQL's generic
// plan for a refund by (owner_mch_id, out_refund_no), made after five executions on an
// empty table, took refunds_created and kept it: every refund of the merchant was read
// for one. The pipeline's and the reader's statements keep generic plans; the tests above
// check those.
func TestPoolPlansFollowTheTable(t *testing.T) {
	b := storagetest.Open(t, "postgres")
	ctx := context.Background()
	conn, err := b.DB.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		`INSERT INTO merchants (mch_id, kind, name, api_key_sealed, apiv3_key_sealed, platform_mode, created_at)
			VALUES ('M', 'direct', 'shop', '\x00', '\x00', 'public_key', 0)`,
		`INSERT INTO payers (payer_id, created_at) VALUES ('P', 0)`,
		`PREPARE byno AS SELECT refund_id FROM refunds WHERE owner_mch_id = $1 AND out_refund_no = $2`,
		`EXECUTE byno('M', 'R-1')`, `EXECUTE byno('M', 'R-1')`, `EXECUTE byno('M', 'R-1')`,
		`EXECUTE byno('M', 'R-1')`, `EXECUTE byno('M', 'R-1')`, `EXECUTE byno('M', 'R-1')`,
		`INSERT INTO orders (owner_mch_id, out_trade_no, transaction_id, mch_id, appid, api, trade_type, payer_id, openid,
			total_fee, fee_type, body, credential_hash, request_digest, state, created_at, updated_at)
			SELECT 'M', 'O-' || i, 'T-' || i, 'M', 'wxA', 'micropay', 'MICROPAY', 'P', 'o', 10, 'CNY', 'b', 'c-' || i, 'd', 'REFUND', i, i
			FROM generate_series(1, 3000) i`,
		`INSERT INTO refunds (refund_id, owner_mch_id, out_refund_no, out_trade_no, refund_fee, total_fee, status, refund_account,
			request_digest, created_at)
			SELECT 'F-' || i, 'M', 'R-' || i, 'O-' || i, 10, 10, 'SUCCESS', 'a', 'd', i FROM generate_series(1, 3000) i`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE byno('M', 'R-7')`)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	scans := scansOn(lines, "refunds")
	if len(scans) != 1 || !scans[0].lookup("refunds_owner_mch_id_out_refund_no_key", "out_refund_no") {
		t.Fatalf("a refund by out_refund_no among 3 000 is not a lookup by that key:\n%s", plan)
	}
}

// The pipeline's statements that change many rows of a table at once (a batch's
// debits, its codes' claims) look each row up by its key, in the generic plan its
// connection keeps, even when that plan was made on an empty table: an empty or
// small table is cheaper to scan than to look up in, and a plan that scans it stays
// as it grows (in `bench pay` the debits scanned ledger_accounts once a batch). Each
// statement lists its keys for the index, and the connection does not scan tables.
func TestPipelineChangesLookUpTheirRows(t *testing.T) {
	b := storagetest.Open(t, "postgres")
	keys := map[string]string{"ledger_accounts": "id", "pay_credentials": "code_hash"}
	for _, n := range []int{2, 8, sqlstore.MaxRows} {
		for table, q := range b.DB.PipelineManySQL(n) {
			args := make([]string, strings.Count(q, "CAST($"))
			for i := range args {
				args[i] = "'1'"
			}
			lines := genericPlanWith(t, b, sqlstore.PipelineSettings, q, strings.Join(args, ", "))
			plan := strings.Join(lines, "\n")
			var scans []scan
			for _, s := range scansOn(lines, table) {
				if strings.Contains(s.line, "Scan") { // not the Update node itself
					scans = append(scans, s)
				}
			}
			key := keys[table]
			for _, s := range scans {
				bitmap := strings.Contains(s.line, "Bitmap Heap Scan on "+table) && strings.Contains(s.cond, "Recheck Cond: ("+key+" = ANY")
				if !bitmap && !s.lookup(table+"_pkey", key) {
					t.Fatalf("%d rows of %s are not looked up by %s:\n%s\n\n%s", n, table, key, s.line, plan)
				}
			}
			if len(scans) == 0 {
				t.Fatalf("no scan of %s in the plan of %d rows:\n%s", table, n, plan)
			}
		}
	}
}

// Claiming due notifications scans the pending ones only as far as the latest clock
// a merchant is on: notifications waiting for a later retry are not read on every
// poll. Without the bound the index scan went through every pending notification,
// evaluating each one's merchant clock.
func TestClaimStopsAtTheClockHorizon(t *testing.T) {
	b := storagetest.Open(t, "postgres")
	lines := genericPlan(t, b, b.DB.ClaimSQL(), "1, 'owner', 100, 50, 50, 10")
	plan := strings.Join(lines, "\n")
	for i, line := range lines {
		if strings.Contains(line, "using notifications_due on notifications") {
			if i+1 < len(lines) && strings.Contains(lines[i+1], "Index Cond:") && strings.Contains(lines[i+1], "next_at <=") {
				return
			}
			t.Fatalf("the scan of pending notifications has no bound on next_at:\n%s", plan)
		}
	}
	t.Fatalf("pending notifications are not read through notifications_due:\n%s", plan)
}

// scan is one scan of a table in a plan: its line and the condition on the next line.
type scan struct{ line, cond string }

// lookup says whether the scan goes through index with a condition on key.
func (s scan) lookup(index, key string) bool {
	return strings.Contains(s.line, "using "+index+" on") && strings.Contains(s.cond, "Index Cond:") && strings.Contains(s.cond, key)
}

// scansOn is every scan of table in the plan's lines.
func scansOn(lines []string, table string) []scan {
	var out []scan
	for i, line := range lines {
		if !strings.Contains(line, " on "+table+" ") && !strings.HasSuffix(line, " on "+table) {
			continue
		}
		s := scan{line: line}
		if i+1 < len(lines) {
			s.cond = lines[i+1]
		}
		out = append(out, s)
	}
	return out
}

// genericPlan is PostgreSQL's generic plan of a statement of b's store (the plan a
// prepared statement keeps), executed with args.
func genericPlan(t *testing.T, b storagetest.Backend, q, args string) []string {
	t.Helper()
	return genericPlanWith(t, b, nil, q, args)
}

// genericPlanWith is genericPlan on a connection with the session settings given.
func genericPlanWith(t *testing.T, b storagetest.Backend, settings map[string]string, q, args string) []string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(b.Config.URL)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range settings {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "PREPARE planned AS "+q); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE planned("+args+")")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}
