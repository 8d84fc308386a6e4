package bench

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/engine"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Stage is the cost of one engine stage.
type Stage struct {
	Name string        `json:"stage"`
	Unit string        `json:"per"`
	N    int           `json:"runs"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P99  time.Duration `json:"p99"`
}

// StageReport is one pack's stage costs.
type StageReport struct {
	Pack   string  `json:"pack"`
	Stages []Stage `json:"stages"`
}

// StageInput names the photographs the stages run on: a portrait (one face) and a
// group photo (a large image, several faces).
type StageInput struct {
	Portrait     *vision.Image
	PortraitName string
	Group        *vision.Image
	GroupName    string
}

// RunFaceStages times each stage of a pack separately, iters times each, on the
// same inputs every time.
func RunFaceStages(e *engine.Engine, in StageInput, iters int, progress io.Writer) (StageReport, error) {
	rep := StageReport{Pack: e.Pack.Name}
	p := e.Parts
	timeIt := func(name, unit string, fn func() error) error {
		if progress != nil {
			fmt.Fprintf(progress, "bench face %s: %s\n", e.Pack.Name, name)
		}
		if err := fn(); err != nil { // warm-up, also allocates onnxruntime's arenas
			return fmt.Errorf("%s: %w", name, err)
		}
		d := make([]time.Duration, iters)
		for i := range d {
			t := time.Now()
			if err := fn(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			d[i] = time.Since(t)
		}
		rep.Stages = append(rep.Stages, summarise(name, unit, d))
		return nil
	}
	dets, err := p.Detector.Detect(in.Portrait)
	if err != nil || len(dets) == 0 {
		return rep, fmt.Errorf("no face in %s: %v", in.PortraitName, err)
	}
	det := dets[0]
	if err := timeIt("detect", fmt.Sprintf("image %dx%d (%s)", in.Portrait.W, in.Portrait.H, in.PortraitName), func() error {
		_, err := p.Detector.Detect(in.Portrait)
		return err
	}); err != nil {
		return rep, err
	}
	if in.Group != nil {
		if err := timeIt("detect", fmt.Sprintf("image %dx%d (%s)", in.Group.W, in.Group.H, in.GroupName), func() error {
			_, err := p.Detector.Detect(in.Group)
			return err
		}); err != nil {
			return rep, err
		}
	}
	if p.Landmarks != nil {
		if err := timeIt("landmarks", "face", func() error { d := det; return p.Landmarks.Landmarks(in.Portrait, &d) }); err != nil {
			return rep, err
		}
		if err := p.Landmarks.Landmarks(in.Portrait, &det); err != nil {
			return rep, err
		}
	}
	var chip *vision.Image
	if err := timeIt("align", "face", func() (err error) { chip, err = e.Align(in.Portrait, det); return err }); err != nil {
		return rep, err
	}
	if err := timeIt("embed", "chip", func() error { _, err := p.Embedder.Embed(chip); return err }); err != nil {
		return rep, err
	}
	if err := timeIt("template", "face (chip + mirror)", func() error { _, err := e.Template(chip); return err }); err != nil {
		return rep, err
	}
	if p.AntiSpoof != nil {
		if err := timeIt("anti-spoof", "face", func() error { _, err := p.AntiSpoof.Live(in.Portrait, det); return err }); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func summarise(name, unit string, d []time.Duration) Stage {
	s := slices.Clone(d)
	slices.Sort(s)
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	return Stage{Name: name, Unit: unit, N: len(s), Mean: sum / time.Duration(len(s)),
		P50: s[len(s)/2], P99: s[min(len(s)-1, len(s)*99/100)]}
}
