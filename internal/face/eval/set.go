// Package eval measures a face pack on a labelled set of real photographs, so that
// an operator can check the engine on their own people before trusting it: pair
// accuracy at the pack's shipped rule, the best threshold the pairs allow, TAR at
// FAR 1e-3 (or at zero false accepts where the pairs are too few), 1:N rank-1 and
// identification through the real face library with one, two or three enrolment
// photos per person, and how many genuine probes each gate refuses — under four
// photo conditions (as given, greyscale, faces 60–100 px wide, JPEG quality 40).
package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Pair is two photos labelled as the same person or not.
type Pair struct {
	X, Y string
	Same bool
}

// Anchor is another model's scores on the same pairs (a peer's published
// distances), to compare with.
type Anchor struct {
	Name     string
	Distance map[[2]string]float64 // smaller is more alike
}

// Set is a labelled set of photos.
type Set struct {
	Dir     string
	Photos  []string          // paths relative to Dir, sorted
	Person  map[string]string // photo → identity
	Pairs   []Pair
	Anchors []Anchor
}

// People lists each identity's photos, identities and photos sorted.
func (s *Set) People() map[string][]string {
	out := map[string][]string{}
	for _, p := range s.Photos {
		out[s.Person[p]] = append(out[s.Person[p]], p)
	}
	return out
}

var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".webp": true}

// Load reads a set: either pairsFile (relative to dir; several, comma-separated,
// are merged), or dir/pairs.csv when it
// exists, as rows of file_x,file_y,Yes|No after a header — identities are then
// the groups the Yes pairs join; or else one sub-folder per person, every pair
// of its photos being the same person and every pair across folders not.
func Load(dir, pairsFile string) (*Set, error) {
	if pairsFile == "" {
		if _, err := os.Stat(filepath.Join(dir, "pairs.csv")); err == nil {
			pairsFile = "pairs.csv"
		}
	}
	if pairsFile == "" {
		return loadFolders(dir)
	}
	var out *Set
	for _, name := range strings.Split(pairsFile, ",") {
		s, err := loadPairs(dir, strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = s
			continue
		}
		if err := out.merge(s); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return out, nil
}

// merge adds another pair list over the same folder: its pairs (each pair once),
// photos, anchors, and identities joined across both lists.
func (s *Set) merge(o *Set) error {
	seen := map[[2]string]bool{}
	for _, p := range s.Pairs {
		seen[[2]string{p.X, p.Y}], seen[[2]string{p.Y, p.X}] = true, true
	}
	for _, p := range o.Pairs {
		if !seen[[2]string{p.X, p.Y}] {
			s.Pairs = append(s.Pairs, p)
			seen[[2]string{p.X, p.Y}], seen[[2]string{p.Y, p.X}] = true, true
		}
	}
	s.Anchors = append(s.Anchors, o.Anchors...)
	uf := unionFind{}
	photos := map[string]bool{}
	for _, p := range s.Pairs {
		photos[p.X], photos[p.Y] = true, true
		if p.Same {
			uf.join(p.X, p.Y)
		}
	}
	s.Photos = s.Photos[:0]
	for ph := range photos {
		s.Photos = append(s.Photos, ph)
	}
	sort.Strings(s.Photos)
	for _, ph := range s.Photos {
		s.Person[ph] = uf.find(ph)
	}
	for _, p := range s.Pairs {
		if !p.Same && s.Person[p.X] == s.Person[p.Y] {
			return fmt.Errorf("%s and %s are labelled different people, but Yes pairs join them", p.X, p.Y)
		}
	}
	return nil
}

func loadPairs(dir, name string) (*Set, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(header) < 3 {
		return nil, fmt.Errorf("%s: want the columns file_x,file_y,decision, got %v", name, header)
	}
	s := &Set{Dir: dir, Person: map[string]string{}}
	for c := 3; c < len(header); c++ {
		s.Anchors = append(s.Anchors, Anchor{Name: header[c], Distance: map[[2]string]float64{}})
	}
	uf := unionFind{}
	seen := map[string]bool{}
	for line := 2; ; line++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(row) < 3 {
			return nil, fmt.Errorf("%s line %d: want file_x,file_y,decision", name, line)
		}
		same, ok := decision(row[2])
		if !ok {
			return nil, fmt.Errorf("%s line %d: decision %q is not Yes or No", name, line, row[2])
		}
		p := Pair{X: filepath.ToSlash(row[0]), Y: filepath.ToSlash(row[1]), Same: same}
		for _, ph := range []string{p.X, p.Y} {
			if !seen[ph] {
				if _, err := os.Stat(filepath.Join(dir, ph)); err != nil {
					return nil, fmt.Errorf("%s line %d: %w", name, line, err)
				}
				seen[ph] = true
				s.Photos = append(s.Photos, ph)
			}
		}
		if same {
			uf.join(p.X, p.Y)
		}
		s.Pairs = append(s.Pairs, p)
		for c := 3; c < len(header) && c < len(row); c++ {
			if d, err := strconv.ParseFloat(strings.TrimSpace(row[c]), 64); err == nil && !math.IsNaN(d) {
				s.Anchors[c-3].Distance[[2]string{p.X, p.Y}] = d
			}
		}
	}
	sort.Strings(s.Photos)
	for _, ph := range s.Photos {
		s.Person[ph] = uf.find(ph)
	}
	for _, p := range s.Pairs {
		if !p.Same && s.Person[p.X] == s.Person[p.Y] {
			return nil, fmt.Errorf("%s: %s and %s are labelled different people, but Yes pairs join them", name, p.X, p.Y)
		}
	}
	if len(s.Pairs) == 0 {
		return nil, fmt.Errorf("%s: no pairs", name)
	}
	return s, nil
}

func decision(v string) (same, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "y", "true", "1", "same":
		return true, true
	case "no", "n", "false", "0", "different":
		return false, true
	}
	return false, false
}

func loadFolders(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Set{Dir: dir, Person: map[string]string{}}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if !f.IsDir() && imageExt[strings.ToLower(filepath.Ext(f.Name()))] {
				ph := e.Name() + "/" + f.Name()
				s.Photos = append(s.Photos, ph)
				s.Person[ph] = e.Name()
			}
		}
	}
	if len(s.Photos) == 0 {
		return nil, fmt.Errorf("%s: no pairs.csv and no sub-folders of photos (one folder per person)", dir)
	}
	sort.Strings(s.Photos)
	for i, a := range s.Photos {
		for _, b := range s.Photos[i+1:] {
			s.Pairs = append(s.Pairs, Pair{X: a, Y: b, Same: s.Person[a] == s.Person[b]})
		}
	}
	return s, nil
}

type unionFind map[string]string

func (u unionFind) find(x string) string {
	for {
		p, ok := u[x]
		if !ok || p == x {
			return x
		}
		x = p
	}
}

func (u unionFind) join(a, b string) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if rb < ra { // the smaller name names the group, so labels do not depend on order
		ra, rb = rb, ra
	}
	u[rb] = ra
}
