package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// MemoryConfig sets up `facepay bench memory`.
type MemoryConfig struct {
	DBURL    string // PostgreSQL; empty: SQLite in a temporary directory
	Orders   int    // payments to make before the second reading
	Binary   string // the facepay binary whose idle `serve` is measured; empty skips it
	Progress io.Writer
}

// MemoryReport is what the memory benchmark prints, in bytes.
type MemoryReport struct {
	Backend       string
	ServeIdleRSS  int64 // a `facepay serve` process, started and left alone for 3 s
	PlatformIdle  Reading
	PlatformAfter Reading
	Orders        int
}

// Reading is one process's memory after a garbage collection.
type Reading struct {
	RSS       int64 // resident set, from /proc/self/status
	HeapInuse int64 // the Go heap in use
}

// RunMemory measures an idle `facepay serve` process, then a platform in this process
// before and after cfg.Orders payments made over HTTPS (the client runs in the same
// process; its connections are closed before the reading).
func RunMemory(ctx context.Context, cfg MemoryConfig) (MemoryReport, error) {
	if cfg.Orders <= 0 {
		cfg.Orders = 100_000
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	var rep MemoryReport
	if cfg.Binary != "" {
		rss, err := serveIdleRSS(ctx, cfg.Binary, cfg.DBURL)
		if err != nil {
			return rep, fmt.Errorf("idle serve: %w", err)
		}
		rep.ServeIdleRSS = rss
	}
	p, stop, err := serving(ctx, cfg.DBURL, platform.Config{})
	if err != nil {
		return rep, err
	}
	defer stop()
	rep.Backend, rep.Orders = p.DB.Backend(), cfg.Orders
	rep.PlatformIdle = read()
	cr, err := p.Tenants.Create(ctx, tenant.NewMerchant{Name: "memory"})
	if err != nil {
		return rep, err
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CA.Pool()}, MaxIdleConnsPerHost: 16, MaxConnsPerHost: 16}
	client := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	// Codes are minted a round at a time: a face code expires, and on a slow backend
	// the last of 100 000 minted at once would expire before its turn.
	const round = 10_000
	for paid := 0; paid < cfg.Orders; {
		n := min(round, cfg.Orders-paid)
		fmt.Fprintf(cfg.Progress, "minting %d face codes...\n", n)
		codes, err := prepareCodes(ctx, p.Pay, cr, n, 200)
		if err != nil {
			return rep, err
		}
		codes = codes[:n]
		var next atomic.Int64
		d := driver{concurrency: 16, duration: 24 * time.Hour, progress: cfg.Progress}
		res := d.drive(ctx, "facepay", func(int64) (bool, bool) {
			i := next.Add(1) - 1
			if i >= int64(len(codes)) {
				return false, false
			}
			return post(client, p.Server.URL()+"/pay/facepay", facepayBody(cr, "M"+strconv.Itoa(paid)+"-"+strconv.FormatInt(i, 10), codes[i]), ""), true
		})
		if res.OK != n {
			return rep, fmt.Errorf("%d of %d payments succeeded", res.OK, n)
		}
		paid += n
	}
	tr.CloseIdleConnections()
	rep.PlatformAfter = read()
	return rep, nil
}

// read collects garbage and returns it to the system first, so the figures are what
// the process keeps, not what it has not yet given back.
func read() Reading {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Reading{RSS: rssOf("self"), HeapInuse: int64(ms.HeapInuse)}
}

// rssOf reads VmRSS of a process (pid or "self") in bytes; 0 when it cannot.
func rssOf(pid string) int64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// serveIdleRSS starts `facepay serve` on a fresh store, leaves it alone for 3 s and
// reads its resident set.
func serveIdleRSS(ctx context.Context, binary, dbURL string) (int64, error) {
	dir, err := os.MkdirTemp("", "facepay-memory")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	args := []string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--log-level", "warn"}
	if dbURL != "" {
		store, drop, err := sqlstore.NewSchema(ctx, dbURL, "bench")
		if err != nil {
			return 0, err
		}
		defer func() { _ = drop() }()
		args = append(args, "--db", store)
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(3 * time.Second)
	rss := rssOf(strconv.Itoa(cmd.Process.Pid))
	if rss == 0 {
		return 0, fmt.Errorf("no resident set for pid %d (did serve exit?)", cmd.Process.Pid)
	}
	return rss, nil
}
