package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/openfacepay/openfacepay/internal/pki"
)

// TestShutdownDrainsInFlight starts a request that is still being answered when
// shutdown begins: it must complete with its full answer, and new connections must be
// refused once shutdown has begun.
func TestShutdownDrainsInFlight(t *testing.T) {
	t.Parallel()
	ca, _, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ca.ServerCert(time.Now())
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			return
		}
		close(entered)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	s, err := Listen(Config{Addr: "127.0.0.1:0", Cert: cert, ClientCAs: ca.Pool(), Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Get(s.URL() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	// Shutdown closes the listener first; wait until a fresh connection is refused.
	fresh := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}}
	for i := 0; ; i++ {
		if _, err := fresh.Get(s.URL() + "/other"); err != nil {
			break
		}
		if i == 100 {
			t.Fatal("new connections still accepted during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-shut:
		t.Fatal("shutdown returned while a request was in flight")
	default:
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after clean shutdown: %v", err)
	}
}
