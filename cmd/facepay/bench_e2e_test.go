package main_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/openfacepay/openfacepay/internal/storage/storagetest"
)

// TestBenchScale: bench scale starts one and then two serve processes of the binary on
// one PostgreSQL, and every payment spread over them is paid.
func TestBenchScale(t *testing.T) {
	t.Parallel()
	storagetest.PostgresSchema(t) // skips or fails as every PostgreSQL test does
	base := os.Getenv(storagetest.EnvPostgres)
	if base == "" {
		base = storagetest.DefaultPostgres
	}
	out, err := exec.Command(binary, "bench", "scale", "--db", base, "--instances", "1,2", "--per-instance", "4", "--duration", "1s").CombinedOutput()
	if err != nil {
		t.Fatalf("bench scale: %v\n%s", err, out)
	}
	rows := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 8 || (f[0] != "1" && f[0] != "2") {
			continue
		}
		paid, _ := strconv.Atoi(f[2])
		if paid == 0 || f[3] != "0" {
			t.Errorf("%s instance(s): %s paid, %s failed", f[0], f[2], f[3])
		}
		rows++
	}
	if rows != 2 {
		t.Fatalf("want a row for 1 and 2 instances:\n%s", out)
	}
}
