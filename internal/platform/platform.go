// Package platform wires the pieces into a running OpenFacePay: the store, the tenant
// service, the ledger, the v2 and v3 edges and the listeners. Commands and tests build
// the same Platform, so tests exercise what users run.
package platform

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/edge/k12http"
	"github.com/openfacepay/openfacepay/internal/edge/k12pages"
	"github.com/openfacepay/openfacepay/internal/edge/notifyhttp"
	"github.com/openfacepay/openfacepay/internal/edge/refundhttp"
	"github.com/openfacepay/openfacepay/internal/edge/termhttp"
	"github.com/openfacepay/openfacepay/internal/edge/v2http"
	"github.com/openfacepay/openfacepay/internal/edge/v3http"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/modelpack"
	"github.com/openfacepay/openfacepay/internal/faceid"
	"github.com/openfacepay/openfacepay/internal/k12"
	"github.com/openfacepay/openfacepay/internal/ledger"
	"github.com/openfacepay/openfacepay/internal/member"
	"github.com/openfacepay/openfacepay/internal/notify"
	"github.com/openfacepay/openfacepay/internal/pay"
	"github.com/openfacepay/openfacepay/internal/pki"
	"github.com/openfacepay/openfacepay/internal/seal"
	"github.com/openfacepay/openfacepay/internal/server"
	"github.com/openfacepay/openfacepay/internal/storage/sqlstore"
	"github.com/openfacepay/openfacepay/internal/tenant"
)

// StoreConfig says where the state lives.
type StoreConfig struct {
	DataDir string              // SQLite file and, by default, the master key file
	DBURL   string              // postgres://... selects PostgreSQL
	Getenv  func(string) string // environment lookup; os.Getenv when nil
	Logger  *slog.Logger
}

// OpenStore loads the master key and opens the store, migrating it if needed.
func OpenStore(ctx context.Context, cfg StoreConfig) (*sqlstore.DB, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	key, err := seal.LoadKey(cfg.DataDir, cfg.Getenv)
	if err != nil {
		return nil, err
	}
	sealer, err := seal.New(key)
	if err != nil {
		return nil, err
	}
	return sqlstore.Open(ctx, sqlstore.Config{URL: cfg.DBURL, DataDir: cfg.DataDir, Sealer: sealer, Logger: cfg.Logger})
}

// Config is a whole platform.
type Config struct {
	Addr     string // HTTPS
	HTTPAddr string // optional plain HTTP
	Hosts    []string
	Logger   *slog.Logger
	Clock    clock.Clock
	// NotifyLease is how long a delivery attempt holds its notification before another
	// instance (or this one, restarted) may try it again; 30 s when zero.
	NotifyLease time.Duration
	// FacePack is the model pack whose templates the terminal API takes ("" is the
	// default pack). The platform runs no model: kiosks send templates.
	FacePack string
	// FaceEngine, when set, is an open engine of FacePack for the parents' collection
	// pages; otherwise one opens on the first photo.
	FaceEngine *engine.Engine
}

// Platform is a running OpenFacePay.
type Platform struct {
	DB      *sqlstore.DB
	Tenants *tenant.Service
	Ledger  *ledger.Ledger
	Pay     *pay.Service
	Members *member.Service
	K12     *k12.Service
	FaceID  *faceid.Service
	// Dispatcher delivers the outbox; every instance runs one.
	Dispatcher *notify.Dispatcher
	CA         *pki.CA
	Server     *server.Server
	log        *slog.Logger
	clock      clock.Clock
	closers    []func() error
}

// New builds the platform over db and binds its listeners.
func New(ctx context.Context, db *sqlstore.DB, cfg Config) (*Platform, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	p := &Platform{DB: db, log: cfg.Logger, clock: cfg.Clock}
	p.Tenants = tenant.NewService(db, cfg.Clock)
	p.Ledger = ledger.New(db, cfg.Clock)
	ca, err := p.Tenants.CA(ctx)
	if err != nil {
		return nil, err
	}
	p.CA = ca
	cert, err := ca.ServerCert(time.Now(), cfg.Hosts...)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	if p.Pay, err = NewPay(ctx, db, cfg.Clock); err != nil {
		return nil, err
	}
	if p.FaceID, p.Members, err = NewFaceID(db, p.Pay, cfg.Clock, cfg.FacePack); err != nil {
		return nil, err
	}
	faces, err := NewK12Faces(db, cfg.FacePack, cfg.FaceEngine, cfg.Clock.Now)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, faces.Close)
	p.K12 = NewK12(db, p.Pay, cfg.Clock, faces)
	term := termhttp.New(termhttp.Config{Pay: p.Pay, FaceID: p.FaceID, K12: p.K12, Nonces: db, Clock: cfg.Clock, Logger: cfg.Logger})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.Dispatcher = notify.NewDispatcher(notify.Config{Store: db, Renderer: notifyhttp.Renderer{Store: db}, Clock: cfg.Clock,
		Logger: cfg.Logger, Metrics: notify.NewMetrics(reg, db), Lease: cfg.NotifyLease})
	v2 := v2http.New(v2http.Config{Tenants: p.Tenants, Store: db, CAPool: ca.Pool(), Logger: cfg.Logger})
	for _, api := range v2http.PayAPIs(p.Pay) {
		v2.Register(api)
	}
	v2.Register(v2http.BillAPI(p.Pay, p.Tenants, cfg.Clock))
	v3 := v3http.New(v3http.Config{Store: db, Clock: cfg.Clock, Logger: cfg.Logger})
	k12http.Register(v3, p.K12)
	refundhttp.Register(v3, p.Pay, p.Tenants)
	mux := http.NewServeMux()
	mux.Handle("/v3/", v3)
	for _, prefix := range []string{"/pay/", "/secapi/", "/face/"} {
		mux.Handle(prefix, v2)
	}
	mux.Handle("/terminal/", term)
	mux.Handle("/k12/", k12pages.New(p.K12, p.Pay))
	mux.HandleFunc("GET /healthz", p.healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	p.Server, err = server.Listen(server.Config{
		Addr: cfg.Addr, HTTPAddr: cfg.HTTPAddr, Cert: cert, ClientCAs: ca.Pool(), Handler: mux, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Platform) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := p.DB.Ping(ctx); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n"))
}

// NewPay builds the payment service over db; admin commands use it as serve does.
func NewPay(ctx context.Context, db *sqlstore.DB, c clock.Clock) (*pay.Service, error) {
	secret, err := db.Secret(ctx, "openid")
	if err != nil {
		return nil, fmt.Errorf("openid secret: %w", err)
	}
	return pay.New(pay.Config{Store: db, Sealer: db.Sealer(), Clock: c, OpenIDSecret: secret}), nil
}

// NewFaceID builds the terminal identification service over the payers' face
// library of the pack's model, and the member cards.
func NewFaceID(db *sqlstore.DB, svc *pay.Service, c clock.Clock, pack string) (*faceid.Service, *member.Service, error) {
	pk, ok := modelpack.Find(pack)
	if !ok {
		return nil, nil, fmt.Errorf("no face model pack %q", pack)
	}
	members := member.New(db, c)
	libs := face.NewLibraries(db, pk.Dim).ForModel(pk.Model())
	return faceid.New(faceid.Config{Pay: svc, Members: members, Libs: libs, Model: pk.Model(),
		Rule: face.Rule{Threshold: pk.Threshold, Margin: pk.Margin}, Store: db, Sealer: db.Sealer()}), members, nil
}

// NewK12 builds the K12 service over db; admin commands use it as serve does.
// faces may be nil: that process cannot take parents' photos.
func NewK12(db *sqlstore.DB, svc *pay.Service, c clock.Clock, faces k12.Faces) *k12.Service {
	return k12.New(k12.Config{Store: db, Contracts: db, Debits: db, Collections: db, Syncs: db, Faces: faces, Pay: svc, Tenants: db,
		Sealer: db.Sealer(), Clock: c})
}

// Run serves until ctx ends, then drains in-flight requests for up to grace.
func (p *Platform) Run(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- p.Server.Serve() }()
	go p.pruneNonces(ctx)
	go p.Dispatcher.Run(ctx)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	p.log.Info("shutting down", "grace_s", grace.Seconds())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := p.Server.Shutdown(sctx)
	if serr := <-errc; err == nil {
		err = serr
	}
	for _, c := range p.closers {
		if cerr := c(); err == nil {
			err = cerr
		}
	}
	return err
}

// pruneNonces forgets v3 nonces that the timestamp window already refuses.
func (p *Platform) pruneNonces(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := p.DB.PruneNonces(ctx, p.clock.Now().Add(-2*v3http.Window)); err != nil {
				p.log.Warn("prune nonces", "err", err)
			} else if n > 0 {
				p.log.Debug("pruned nonces", "count", n)
			}
		}
	}
}
