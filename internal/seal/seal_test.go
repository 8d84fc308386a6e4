package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func mustSealer(t *testing.T, b byte) *Sealer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	s := mustSealer(t, 1)
	secret := []byte("8934e7d15453e97507ef794cf7b0519d")
	sealed := s.Seal("merchant/1/api_key", secret)
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	if got, err := s.Open("merchant/1/api_key", sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if bytes.Equal(sealed, s.Seal("merchant/1/api_key", secret)) {
		t.Fatal("two seals of one value are identical: nonce reuse")
	}
	cases := map[string]func() ([]byte, error){
		"other purpose": func() ([]byte, error) { return s.Open("merchant/2/api_key", sealed) },
		"other key":     func() ([]byte, error) { return mustSealer(t, 2).Open("merchant/1/api_key", sealed) },
		"tampered": func() ([]byte, error) {
			c := bytes.Clone(sealed)
			c[len(c)-1] ^= 1
			return s.Open("merchant/1/api_key", c)
		},
		"truncated": func() ([]byte, error) { return s.Open("merchant/1/api_key", sealed[:10]) },
		"empty":     func() ([]byte, error) { return s.Open("merchant/1/api_key", nil) },
	}
	for name, open := range cases {
		if _, err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noenv := func(string) string { return "" }
	k1, err := LoadKey(dir, noenv)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadKey(dir, noenv)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load gave another key (%v)", err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	want := bytes.Repeat([]byte{7}, 32)
	env := func(k string) string {
		if k == EnvKey {
			return hex.EncodeToString(want)
		}
		return ""
	}
	if got, err := LoadKey(dir, env); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("env key not used: %x %v", got, err)
	}
	bad := func(string) string { return "short" }
	if _, err := LoadKey(dir, bad); err == nil {
		t.Fatal("a malformed env key was accepted")
	}
}
