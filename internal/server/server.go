// Package server runs the platform's listeners: HTTPS (asking every client for a
// certificate, so /secapi can check the merchant's, without requiring one elsewhere)
// and optionally plain HTTP on a second address. It logs each request as JSON without
// bodies or query strings, and drains in-flight requests on shutdown.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Config wires a Server.
type Config struct {
	Addr      string // HTTPS address, e.g. 127.0.0.1:8443; port 0 picks a free one
	HTTPAddr  string // optional plain HTTP address
	Cert      tls.Certificate
	ClientCAs *x509.CertPool // advertised, so Go clients send certificates that these issued
	Handler   http.Handler
	Logger    *slog.Logger
}

// Server is a set of bound listeners.
type Server struct {
	https, http   *http.Server
	lnTLS, lnHTTP net.Listener
	log           *slog.Logger
}

// Listen binds the addresses; Serve starts answering.
func Listen(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := logRequests(cfg.Logger, cfg.Handler)
	s := &Server{log: cfg.Logger}
	var err error
	if s.lnTLS, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	s.https = &http.Server{
		Handler: h,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cfg.Cert},
			// Request, not require: /pay/* calls come without a certificate; the
			// /secapi handler checks the one it needs, and answers in XML if absent.
			ClientAuth: tls.RequestClientCert,
			ClientCAs:  cfg.ClientCAs,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	if cfg.HTTPAddr != "" {
		if s.lnHTTP, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			s.lnTLS.Close()
			return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
		}
		s.http = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
			ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)}
	}
	return s, nil
}

// URL is the HTTPS base URL.
func (s *Server) URL() string { return "https://" + s.lnTLS.Addr().String() }

// HTTPURL is the plain HTTP base URL, or "" when there is none.
func (s *Server) HTTPURL() string {
	if s.lnHTTP == nil {
		return ""
	}
	return "http://" + s.lnHTTP.Addr().String()
}

// Serve answers until Shutdown; it returns nil after a clean shutdown.
func (s *Server) Serve() error {
	errc := make(chan error, 2)
	go func() { errc <- s.https.ServeTLS(s.lnTLS, "", "") }()
	n := 1
	if s.http != nil {
		n++
		go func() { errc <- s.http.Serve(s.lnHTTP) }()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
			s.Shutdown(context.Background())
		}
	}
	return first
}

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.https.Shutdown(ctx)
	if s.http != nil {
		err = errors.Join(err, s.http.Shutdown(ctx))
	}
	return err
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// logRequests logs method, path, status and duration: never bodies, headers or query
// strings, which carry signatures, keys and personal fields.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
			slog.Bool("tls", r.TLS != nil))
	})
}
