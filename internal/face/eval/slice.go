package eval

import (
	"embed"
	"io/fs"
)

//go:embed testdata/deepface-slice
var slice embed.FS

// Slice is the regression slice of real photographs (six people, three photos each,
// MIT-licensed, see its README and LICENSE), one folder per person: the demo's
// students and the regression test's identities.
func Slice() fs.FS {
	f, _ := fs.Sub(slice, "testdata/deepface-slice")
	return f
}
