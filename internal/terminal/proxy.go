package terminal

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Proxy is initWxpayface's proxy: how the face service reaches the platform.
type Proxy struct {
	Type    int    // 0 none, 1 HTTP tunnel (CONNECT), 2 SOCKS5, 3 HTTP
	IP      string // host or address
	Port    string // digits
	TCPPort string // the tunnel's port when it differs from Port
	User    string
	Passwd  string
}

// Performance modes of initWxpayface (the SDK spells NORMAL_PRFORM so).
const (
	NormalPerform = "NORMAL_PRFORM"
	LowPerform    = "LOW_PERFORM"
)

// parseInit reads initWxpayface's parameters, flat (the Android map) or under
// "proxy" (the APICloud module).
func parseInit(p map[string]any) (Proxy, string, error) {
	if inner, ok := p["proxy"].(map[string]any); ok {
		merged := map[string]any{}
		for k, v := range p {
			merged[k] = v
		}
		for k, v := range inner {
			merged[k] = v
		}
		p = merged
	}
	v, err := params(p, nil, "ip", "port", "user", "passwd", "tcp_port", "perform_mode")
	if err != nil {
		return Proxy{}, "", err
	}
	px := Proxy{IP: v["ip"], Port: v["port"], TCPPort: v["tcp_port"], User: v["user"], Passwd: v["passwd"]}
	switch t := p["proxy_type"].(type) {
	case nil:
		if px.IP != "" {
			px.Type = 3 // before 2.12 an ip and port meant an HTTP proxy
		}
	case float64:
		if t != float64(int(t)) || t < 0 || t > 3 {
			return Proxy{}, "", fmt.Errorf("proxy_type must be 0 (none), 1 (HTTP tunnel), 2 (SOCKS5) or 3 (HTTP)")
		}
		px.Type = int(t)
	case int:
		if t < 0 || t > 3 {
			return Proxy{}, "", fmt.Errorf("proxy_type must be 0 (none), 1 (HTTP tunnel), 2 (SOCKS5) or 3 (HTTP)")
		}
		px.Type = t
	default:
		return Proxy{}, "", fmt.Errorf("proxy_type must be a number")
	}
	if px.Type != 0 {
		if px.IP == "" {
			return Proxy{}, "", fmt.Errorf("a proxy needs ip")
		}
		for _, port := range []string{px.Port, px.TCPPort} {
			if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
				return Proxy{}, "", fmt.Errorf("port and tcp_port must be numbers from 1 to 65535")
			}
		}
		if px.Port == "" {
			return Proxy{}, "", fmt.Errorf("a proxy needs port")
		}
	}
	mode := v["perform_mode"]
	switch mode {
	case "":
		mode = NormalPerform
	case NormalPerform, LowPerform:
	default:
		return Proxy{}, "", fmt.Errorf("perform_mode must be NORMAL_PRFORM or LOW_PERFORM")
	}
	return px, mode, nil
}

func (p Proxy) url(scheme, port string) *url.URL {
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(p.IP, port)}
	if p.User != "" {
		u.User = url.UserPassword(p.User, p.Passwd)
	}
	return u
}

// Transport is an HTTP transport that reaches the platform through the proxy.
func (p Proxy) Transport(pool *x509.CertPool) *http.Transport {
	t := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 4}
	switch p.Type {
	case 2:
		t.Proxy = http.ProxyURL(p.url("socks5", p.Port))
	case 3:
		t.Proxy = http.ProxyURL(p.url("http", p.Port))
	case 1:
		// A tunnel is a CONNECT for every connection, plain HTTP too, which
		// http.Transport's proxy support does only for TLS targets.
		port := p.Port
		if p.TCPPort != "" {
			port = p.TCPPort
		}
		t.DialContext = p.tunnel(port)
	}
	return t
}

// tunnel dials the target through an HTTP CONNECT proxy.
func (p Proxy) tunnel(port string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.IP, port))
		if err != nil {
			return nil, err
		}
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
		if p.User != "" {
			req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(p.User+":"+p.Passwd)))
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		if err := req.Write(c); err != nil {
			c.Close()
			return nil, err
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			c.Close()
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			c.Close()
			return nil, fmt.Errorf("the proxy refused the tunnel: %s", resp.Status)
		}
		_ = c.SetDeadline(time.Time{})
		if br.Buffered() > 0 {
			c.Close()
			return nil, fmt.Errorf("the proxy sent data before the tunnel opened")
		}
		return c, nil
	}
}
