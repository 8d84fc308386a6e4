package modelpack

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Status says whether an artefact is installed with the pinned content.
type Status struct {
	Artefact  Artefact
	Installed bool
	Err       error // set when the file exists with other content
}

// Check hashes every installed artefact.
func Check(cache string) []Status {
	out := make([]Status, 0, len(artefacts))
	for _, a := range artefacts {
		err := verifyFile(a.Local(cache), a.SHA256)
		out = append(out, Status{Artefact: a, Installed: err == nil, Err: ignoreMissing(err)})
	}
	return out
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Verify returns the artefact's path once its content matches the pinned sha256.
func Verify(cache, key string) (string, error) {
	a, ok := Lookup(key)
	if !ok {
		return "", fmt.Errorf("modelpack: no artefact %q", key)
	}
	p := a.Local(cache)
	if err := verifyFile(p, a.SHA256); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s is not installed in %s: run `make models` (or `facepay models install`)", key, cache)
		}
		return "", err
	}
	return p, nil
}

// Install fetches every source with a missing or damaged artefact, checks the
// archive's sha256, extracts only the pinned files and checks each of them. A
// second run finds everything in place and downloads nothing.
func Install(ctx context.Context, cache string, log io.Writer) error {
	need := map[string][]Artefact{}
	var order []Source
	for _, st := range Check(cache) {
		if st.Installed {
			continue
		}
		s := st.Artefact.Source
		if _, seen := need[s.ID()]; !seen {
			order = append(order, s)
		}
		need[s.ID()] = append(need[s.ID()], st.Artefact)
	}
	if len(order) == 0 {
		fmt.Fprintf(log, "models: all %d artefacts present in %s, nothing to download\n", len(artefacts), cache)
		return nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	for i, s := range order {
		fmt.Fprintf(log, "models: [%d/%d] fetching %s (%s)\n", i+1, len(order), s.ID(), s.Kind)
		if err := installSource(ctx, cache, s, need[s.ID()]); err != nil {
			return fmt.Errorf("install %s: %w", s.ID(), err)
		}
		for _, a := range need[s.ID()] {
			fmt.Fprintf(log, "models:        %s ok (sha256 %s…)\n", a.Key, a.SHA256[:12])
		}
	}
	return nil
}

func installSource(ctx context.Context, cache string, s Source, want []Artefact) error {
	tmp, err := os.MkdirTemp(cache, ".fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	archive, err := download(ctx, tmp, s)
	if err != nil {
		return err
	}
	if err := verifyFile(archive, s.SHA256); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	r, closeR, err := openTar(ctx, archive, s.Kind)
	if err != nil {
		return err
	}
	defer closeR()
	byPath := map[string]Artefact{}
	for _, a := range want {
		byPath[a.Path] = a
	}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		a, ok := byPath[strings.TrimPrefix(h.Name, "./")]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		if err := writeVerified(r, a.Local(cache), a.SHA256); err != nil {
			return fmt.Errorf("%s: %w", a.Key, err)
		}
		delete(byPath, a.Path)
	}
	for p := range byPath {
		return fmt.Errorf("%s not found in the archive", p)
	}
	return nil
}

func download(ctx context.Context, dir string, s Source) (string, error) {
	var cmd *exec.Cmd
	switch s.Kind {
	case "npm":
		// npm pack runs no install script, unlike npm install, whose scripts
		// download from hosts this machine cannot reach.
		cmd = exec.CommandContext(ctx, "npm", "pack", "--silent", "--pack-destination", dir, s.ID())
	case "deb":
		cmd = exec.CommandContext(ctx, "apt-get", "download", "-q", s.Name+"="+s.Version)
	default:
		return "", fmt.Errorf("unknown source kind %q", s.Kind)
	}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".tgz") || strings.HasSuffix(n, ".deb") {
			return filepath.Join(dir, n), nil
		}
	}
	return "", fmt.Errorf("%s produced no archive", cmd.Args[0])
}

func openTar(ctx context.Context, archive, kind string) (*tar.Reader, func(), error) {
	if kind == "npm" {
		f, err := os.Open(archive)
		if err != nil {
			return nil, nil, err
		}
		gz, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return tar.NewReader(gz), func() { gz.Close(); f.Close() }, nil
	}
	// A .deb's data member may be xz or zstd compressed; dpkg-deb knows them all.
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", archive)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return tar.NewReader(out), func() { out.Close(); _ = cmd.Wait() }, nil
}

func writeVerified(r io.Reader, dst, sum string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".part-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("sha256 %s, pinned %s", got, sum)
	}
	return os.Rename(f.Name(), dst)
}

func verifyFile(path, sum string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%s: sha256 %s, pinned %s", path, got, sum)
	}
	return nil
}
