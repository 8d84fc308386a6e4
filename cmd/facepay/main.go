// Command facepay is OpenFacePay: one binary for the platform (serve) and its
// operators (admin). main only wires; the work happens in internal packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/openfacepay/openfacepay/internal/errcode"
	"github.com/openfacepay/openfacepay/internal/face"
	"github.com/openfacepay/openfacepay/internal/gctune"
)

// gcFloor is the least the heap grows between two collections (see gctune): a
// payment's garbage is about 38 KB and the live heap a few MB, so under load the
// collector runs a few times a second instead of about fifty.
const gcFloor = 48 << 20

func main() {
	defer gctune.Floor(gcFloor)()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "facepay:", describe(err))
		os.Exit(exitCode(err))
	}
}

// describe gives the human message of a domain error, or the error itself.
func describe(err error) string {
	var e *errcode.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func exitCode(err error) int {
	var fe *face.Error
	if errors.As(err, &fe) {
		return 3 // recognition answered, with an SDK error code
	}
	switch errcode.CodeOf(err) {
	case errcode.Invalid, errcode.NotFound, errcode.Conflict:
		return 2
	}
	return 1
}
