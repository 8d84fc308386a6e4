package terminal

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connectProxy is an HTTP proxy that only tunnels (CONNECT), counting tunnels and
// remembering the last Proxy-Authorization.
type connectProxy struct {
	tunnels atomic.Int32
	mu      sync.Mutex
	auth    string
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "tunnels only", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	p.auth = r.Header.Get("Proxy-Authorization")
	p.mu.Unlock()
	target, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.tunnels.Add(1)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		target.Close()
		return
	}
	_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { _, _ = io.Copy(target, conn); target.Close() }()
	go func() { _, _ = io.Copy(conn, target); conn.Close() }()
}

// socks5 is a SOCKS5 server (RFC 1928, RFC 1929 user/password) that counts connections.
type socks5 struct {
	ln    net.Listener
	conns atomic.Int32
	user  string
	pass  string
}

func newSOCKS5(t *testing.T, user, pass string) *socks5 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socks5{ln: ln, user: user, pass: pass}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *socks5) serve(c net.Conn) {
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	r := bufio.NewReader(c)
	head := make([]byte, 2)
	if _, err := io.ReadFull(r, head); err != nil || head[0] != 5 {
		return
	}
	methods := make([]byte, head[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		return
	}
	want := byte(0)
	if s.user != "" {
		want = 2
	}
	_, _ = c.Write([]byte{5, want})
	if want == 2 {
		v := make([]byte, 2)
		if _, err := io.ReadFull(r, v); err != nil {
			return
		}
		u := make([]byte, v[1])
		_, _ = io.ReadFull(r, u)
		pl := make([]byte, 1)
		_, _ = io.ReadFull(r, pl)
		pw := make([]byte, pl[0])
		_, _ = io.ReadFull(r, pw)
		if string(u) != s.user || string(pw) != s.pass {
			_, _ = c.Write([]byte{1, 1})
			return
		}
		_, _ = c.Write([]byte{1, 0})
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(r, req); err != nil || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		_, _ = io.ReadFull(r, ip)
		host = net.IP(ip).String()
	case 3:
		l := make([]byte, 1)
		_, _ = io.ReadFull(r, l)
		h := make([]byte, l[0])
		_, _ = io.ReadFull(r, h)
		host = string(h)
	default:
		return
	}
	pb := make([]byte, 2)
	_, _ = io.ReadFull(r, pb)
	target, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb)))))
	if err != nil {
		_, _ = c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	s.conns.Add(1)
	_, _ = c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	conn := c
	c = nil
	go func() { _, _ = io.Copy(target, r); target.Close() }()
	go func() { _, _ = io.Copy(conn, target); conn.Close() }()
}

// TestInitUsesTheProxy initialises the SDK through each proxy type and checks that
// the connection to the platform really went through it, with its credentials.
func TestInitUsesTheProxy(t *testing.T) {
	platform := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer platform.Close()
	pool := platform.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tunnel := &connectProxy{}
	tunnelSrv := httptest.NewServer(tunnel)
	defer tunnelSrv.Close()
	_, tunnelPort, _ := net.SplitHostPort(tunnelSrv.Listener.Addr().String())
	socks := newSOCKS5(t, "kiosk", "s3cret")
	_, socksPort, _ := net.SplitHostPort(socks.ln.Addr().String())

	newSDK := func() *SDK {
		s, err := New(Config{DataDir: t.TempDir(), Platform: platform.URL, CAPool: pool, Camera: NewCamera(NewStill(nil), nil, DefaultTimeouts)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	cases := []struct {
		name    string
		params  map[string]any
		through func() int32
	}{
		{"HTTP tunnel (1)", map[string]any{"proxy_type": 1.0, "ip": "127.0.0.1", "port": "1", "tcp_port": tunnelPort, "user": "kiosk", "passwd": "s3cret"}, tunnel.tunnels.Load},
		{"HTTP (3)", map[string]any{"proxy_type": 3.0, "ip": "127.0.0.1", "port": tunnelPort, "user": "kiosk", "passwd": "s3cret"}, tunnel.tunnels.Load},
		{"SOCKS5 (2)", map[string]any{"proxy_type": 2.0, "ip": "127.0.0.1", "port": socksPort, "user": "kiosk", "passwd": "s3cret"}, socks.conns.Load},
		{"APICloud's proxy object", map[string]any{"proxy": map[string]any{"proxy_type": 2.0, "ip": "127.0.0.1", "port": socksPort, "user": "kiosk", "passwd": "s3cret"}, "perform_mode": "LOW_PERFORM"}, socks.conns.Load},
	}
	for _, c := range cases {
		s := newSDK()
		before := c.through()
		if a := s.Call(ctx, "initWxpayface", c.params); a["return_code"] != "SUCCESS" {
			t.Fatalf("%s: %v", c.name, a)
		}
		if c.through() == before {
			t.Fatalf("%s: the platform was reached without the proxy", c.name)
		}
		if a := s.Call(ctx, "getWxpayfaceRawdata", nil); a["return_code"] != "SUCCESS" {
			t.Fatalf("%s: rawdata after init: %v", c.name, a)
		}
	}
	tunnel.mu.Lock()
	if tunnel.auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("kiosk:s3cret")) {
		t.Fatalf("the tunnel saw Proxy-Authorization %q", tunnel.auth)
	}
	tunnel.mu.Unlock()

	// A wrong SOCKS password, or a proxy that is not there, fails init and leaves
	// the SDK uninitialised.
	for name, p := range map[string]map[string]any{
		"wrong password": {"proxy_type": 2.0, "ip": "127.0.0.1", "port": socksPort, "user": "kiosk", "passwd": "nope"},
		"no proxy there": {"proxy_type": 1.0, "ip": "127.0.0.1", "port": "1"},
	} {
		s := newSDK()
		if a := s.Call(ctx, "initWxpayface", p); a["return_code"] == "SUCCESS" {
			t.Fatalf("%s: init succeeded", name)
		}
		if a := s.Call(ctx, "getWxpayfaceRawdata", nil); a["err_code"] != ErrCodeNotInit {
			t.Fatalf("%s: after a failed init: %v", name, a)
		}
	}
	// Without a proxy the platform is reached directly; an unreachable platform fails init.
	if a := newSDK().Call(ctx, "initWxpayface", map[string]any{}); a["return_code"] != "SUCCESS" {
		t.Fatalf("no proxy: %v", a)
	}
	down, err := New(Config{DataDir: t.TempDir(), Platform: "https://127.0.0.1:1", Camera: NewCamera(NewStill(nil), nil, DefaultTimeouts)})
	if err != nil {
		t.Fatal(err)
	}
	if a := down.Call(ctx, "initWxpayface", nil); a["return_code"] == "SUCCESS" || down.State() != Uninit {
		t.Fatalf("an unreachable platform: %v, state %s", a, down.State())
	}
}

// TestInitWhileInitialising answers 271378621 to a call made while init runs.
func TestInitWhileInitialising(t *testing.T) {
	release := make(chan struct{})
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer platform.Close()
	s, err := New(Config{DataDir: t.TempDir(), Platform: platform.URL, Camera: NewCamera(NewStill(nil), nil, DefaultTimeouts)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Answer)
	go func() { done <- s.Call(context.Background(), "initWxpayface", nil) }()
	for s.State() != Initialising {
		time.Sleep(time.Millisecond)
	}
	for _, fn := range []string{"getWxpayfaceRawdata", "initWxpayface"} {
		if a := s.Call(context.Background(), fn, nil); a["err_code"] != ErrCodeInitialising {
			t.Fatalf("%s while initialising: %v", fn, a)
		}
	}
	close(release)
	if a := <-done; a["return_code"] != "SUCCESS" || s.State() != Ready {
		t.Fatalf("init: %v, state %s", a, s.State())
	}
}
