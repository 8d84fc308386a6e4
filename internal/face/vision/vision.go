// Package vision holds the image arithmetic the face engine needs and nothing
// more: decoding JPEG (with its EXIF orientation), PNG and WebP into float RGB, bilinear warps by an affine map (every
// crop, resize and alignment is one), the least-squares similarity transform between
// point sets, a sharpness measure, and packing pixels into model tensors.
package vision

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder for Decode
	_ "image/png"  // registers the PNG decoder for Decode
	"io"
	"math"

	_ "golang.org/x/image/webp" // registers the WebP decoder: browsers and phones save WebP, often named .jpg
)

// Point is a position in pixels.
type Point struct {
	X float32 `json:"x"`
	Y float32 `json:"y"`
}

// Rect is an axis-aligned box in pixels; its JSON names are the face SDK's
// best_face_rect_left/top/right/bottom without the prefix.
type Rect struct {
	X1 float32 `json:"left"`
	Y1 float32 `json:"top"`
	X2 float32 `json:"right"`
	Y2 float32 `json:"bottom"`
}

// W is the box width.
func (r Rect) W() float32 { return r.X2 - r.X1 }

// H is the box height.
func (r Rect) H() float32 { return r.Y2 - r.Y1 }

// IoU is the intersection over union of two boxes.
func (r Rect) IoU(o Rect) float32 {
	ix := min(r.X2, o.X2) - max(r.X1, o.X1)
	iy := min(r.Y2, o.Y2) - max(r.Y1, o.Y1)
	if ix <= 0 || iy <= 0 {
		return 0
	}
	inter := ix * iy
	return inter / (r.W()*r.H() + o.W()*o.H() - inter)
}

// Image is an RGB image with float samples in 0..255, row-major, interleaved.
type Image struct {
	W, H int
	Pix  []float32 // len W*H*3
}

// New returns a black image.
func New(w, h int) *Image { return &Image{W: w, H: h, Pix: make([]float32, w*h*3)} }

// MaxPixels bounds what Decode accepts, so a hostile upload cannot exhaust memory.
const MaxPixels = 40_000_000

// Decode reads a JPEG, PNG or WebP of at most MaxPixels, recognised by its
// content whatever the file is called. A JPEG is turned upright as its EXIF
// orientation says, as a phone's gallery shows it.
func Decode(r io.Reader) (*Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return nil, fmt.Errorf("decode image: %dx%d is outside 1..%d pixels", cfg.Width, cfg.Height, MaxPixels)
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	out := FromImage(img)
	if format == "jpeg" {
		out = orient(out, jpegOrientation(data))
	}
	return out, nil
}

// FromImage converts any image.Image.
func FromImage(src image.Image) *Image {
	b := src.Bounds()
	out := New(b.Dx(), b.Dy())
	switch s := src.(type) {
	case *image.YCbCr:
		for y := 0; y < out.H; y++ {
			for x := 0; x < out.W; x++ {
				c := s.YCbCrAt(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				i := (y*out.W + x) * 3
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = float32(r), float32(g), float32(bb)
			}
		}
	case *image.RGBA:
		for y := 0; y < out.H; y++ {
			row := s.Pix[(y)*s.Stride:]
			for x := 0; x < out.W; x++ {
				i := (y*out.W + x) * 3
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = float32(row[x*4]), float32(row[x*4+1]), float32(row[x*4+2])
			}
		}
	default:
		for y := 0; y < out.H; y++ {
			for x := 0; x < out.W; x++ {
				r, g, bb, _ := src.At(b.Min.X+x, b.Min.Y+y).RGBA()
				i := (y*out.W + x) * 3
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = float32(r>>8), float32(g>>8), float32(bb>>8)
			}
		}
	}
	return out
}

// RGBA converts back, for encoding variants and contact sheets.
func (m *Image) RGBA() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	for i := 0; i < m.W*m.H; i++ {
		out.Pix[i*4] = clamp8(m.Pix[i*3])
		out.Pix[i*4+1] = clamp8(m.Pix[i*3+1])
		out.Pix[i*4+2] = clamp8(m.Pix[i*3+2])
		out.Pix[i*4+3] = 255
	}
	return out
}

func clamp8(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// At samples channel c at (x, y) bilinearly; outside the image it is black.
func (m *Image) At(x, y float32, c int) float32 {
	x0, y0 := int(math.Floor(float64(x))), int(math.Floor(float64(y)))
	fx, fy := x-float32(x0), y-float32(y0)
	p := func(xi, yi int) float32 {
		if xi < 0 || yi < 0 || xi >= m.W || yi >= m.H {
			return 0
		}
		return m.Pix[(yi*m.W+xi)*3+c]
	}
	top := p(x0, y0)*(1-fx) + p(x0+1, y0)*fx
	bot := p(x0, y0+1)*(1-fx) + p(x0+1, y0+1)*fx
	return top*(1-fy) + bot*fy
}
