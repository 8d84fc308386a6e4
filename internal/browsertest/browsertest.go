// Package browsertest runs the page tests' playwright-core scripts in Debian's
// Chromium: where scripts/ensure-browser.sh put playwright-core, and one run of a
// script whose stdout is its JSON result.
package browsertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Dir is where scripts/ensure-browser.sh unpacks playwright-core. Without Chromium,
// playwright-core or node the test is skipped, or fails when FACEPAY_REQUIRE_BROWSER
// is set (make test sets it).
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FACEPAY_BROWSER_DIR")
	if dir == "" {
		c, _ := os.UserCacheDir()
		dir = filepath.Join(c, "openfacepay", "browser")
	}
	_, errPW := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json"))
	_, errCr := os.Stat("/usr/bin/chromium")
	_, errNode := exec.LookPath("node")
	if errPW != nil || errCr != nil || errNode != nil {
		if os.Getenv("FACEPAY_REQUIRE_BROWSER") != "" {
			t.Fatalf("browser tests required: chromium %v, playwright-core %v, node %v (scripts/ensure-browser.sh)", errCr, errPW, errNode)
		}
		t.Skip("no Chromium or playwright-core: run scripts/ensure-browser.sh")
	}
	return dir
}

// Run runs the node script with env added and returns its stdout; a failing script
// fails the test with its stderr.
func Run(t testing.TB, script string, env ...string) []byte {
	t.Helper()
	dir := Dir(t)
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", abs)
	cmd.Env = append(append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules")), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("browser run: %v\n%s", err, stderr)
	}
	return out
}

// Shots is where screenshots go: FACEPAY_SCREENSHOTS (the README's) or a temporary folder.
func Shots(t testing.TB) string {
	if s := os.Getenv("FACEPAY_SCREENSHOTS"); s != "" {
		return s
	}
	return t.TempDir()
}
