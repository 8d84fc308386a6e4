package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openfacepay/openfacepay/internal/platform"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// ScaleConfig sets up `facepay bench scale`.
type ScaleConfig struct {
	DBURL       string        // PostgreSQL, where a throw-away schema is made
	Binary      string        // the facepay binary whose serve processes are started
	Instances   []int         // how many serve processes, one measurement each
	PerInstance int           // client connections per instance
	Duration    time.Duration // of each measurement
	Progress    io.Writer
}

// ScaleRow is facepay across n serve processes.
type ScaleRow struct {
	Instances, Connections int
	Result
}

// RunScale starts n `facepay serve` processes on one PostgreSQL schema for each n in
// cfg.Instances and spreads signed facepay payments over them from the client, with
// cfg.PerInstance connections per process.
func RunScale(ctx context.Context, cfg ScaleConfig) ([]ScaleRow, error) {
	if !sqlstore.IsPostgresURL(cfg.DBURL) {
		return nil, errors.New("bench scale needs --db: several processes share one PostgreSQL")
	}
	if cfg.PerInstance <= 0 {
		cfg.PerInstance = 16
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	dir, err := os.MkdirTemp("", "facepay-scale")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	url, drop, err := sqlstore.NewSchema(ctx, cfg.DBURL, "bench")
	if err != nil {
		return nil, err
	}
	defer func() { _ = drop() }()
	db, err := platform.OpenStore(ctx, platform.StoreConfig{DataDir: dir, DBURL: url})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// A platform in this process only to set up (merchant, payers, codes) and for its CA.
	p, err := platform.New(ctx, db, platform.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	cr, err := p.Tenants.Create(ctx, tenant.NewMerchant{Name: "scale"})
	if err != nil {
		return nil, err
	}
	var rows []ScaleRow
	for _, n := range cfg.Instances {
		// Minted just before each measurement: a face code lives two minutes.
		want := int((cfg.Duration + scaleWarmUp).Seconds() * 4000)
		fmt.Fprintf(cfg.Progress, "minting %d face codes...\n", want)
		codes, err := prepareCodes(ctx, p.Pay, cr, want, 200)
		if err != nil {
			return rows, err
		}
		var next atomic.Int64
		bases, stop, err := startServes(ctx, cfg.Binary, dir, url, n)
		if err != nil {
			return rows, err
		}
		conns := n * cfg.PerInstance
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: p.CA.Pool()}, MaxIdleConnsPerHost: cfg.PerInstance, MaxConnsPerHost: cfg.PerInstance,
		}}
		pay := func(k int64) (bool, bool) {
			i := next.Add(1) - 1
			if i >= int64(len(codes)) {
				return false, false
			}
			base := bases[k%int64(len(bases))]
			return post(client, base+"/pay/facepay", facepayBody(cr, "S"+strconv.Itoa(n)+"-"+strconv.FormatInt(i, 10), codes[i]), ""), true
		}
		warm := driver{concurrency: conns, duration: scaleWarmUp, progress: io.Discard}
		warm.drive(ctx, "warm-up", pay)
		d := driver{concurrency: conns, duration: cfg.Duration, progress: cfg.Progress}
		res := d.drive(ctx, fmt.Sprintf("facepay, %d instances", n), pay)
		stop()
		rows = append(rows, ScaleRow{Instances: n, Connections: conns, Result: res})
	}
	return rows, audited(ctx, db)
}

// scaleWarmUp is paid before each measurement and not counted: a fresh serve spends
// its first second opening connections to PostgreSQL and filling its caches (four
// instances paid 12 and then 68 a second in their first two seconds, against 1 500
// after), and what is reported is what the instances sustain.
const scaleWarmUp = 2 * time.Second

// startServes starts n serve processes on the store and waits until each answers.
func startServes(ctx context.Context, binary, dir, url string, n int) ([]string, func(), error) {
	var (
		cmds  []*exec.Cmd
		bases []string
	)
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
	for range n {
		addr, err := freePort()
		if err != nil {
			stop()
			return nil, nil, err
		}
		c := exec.CommandContext(ctx, binary, "serve", "--data", dir, "--db", url, "--addr", addr, "--log-level", "error", "--grace", "2s")
		if err := c.Start(); err != nil {
			stop()
			return nil, nil, err
		}
		cmds = append(cmds, c)
		bases = append(bases, "https://"+addr)
	}
	for _, b := range bases {
		if err := waitAnswers(ctx, b); err != nil {
			stop()
			return nil, nil, err
		}
	}
	return bases, stop, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitAnswers waits until base accepts TLS connections (at most 30 s).
func waitAnswers(ctx context.Context, base string) error {
	addr := base[len("https://"):]
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // a readiness probe; no data is sent
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not start within 30 s", base)
}
