// Package netcut is a network line that can be cut: a reverse proxy in front of the
// platform that, while down, drops every connection without an answer, as a dead
// network does. The demo cuts a school off the platform with it, and the outage
// tests and benchmarks do the same.
package netcut

import (
	"crypto/tls"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// Line forwards to its target until it is cut.
type Line struct {
	down  atomic.Bool
	proxy *httputil.ReverseProxy
}

// New is a line to target (an https URL is reached with tlsConfig).
func New(target *url.URL, tlsConfig *tls.Config) *Line {
	l := &Line{proxy: httputil.NewSingleHostReverseProxy(target)}
	l.proxy.Transport = &http.Transport{TLSClientConfig: tlsConfig}
	return l
}

// Cut takes the line down (true) or brings it back (false).
func (l *Line) Cut(down bool) { l.down.Store(down) }

func (l *Line) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	l.proxy.ServeHTTP(w, r)
}
