package terminal

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/clock"
	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// Source gives camera frames.
type Source interface {
	// Frame returns the next frame.
	Frame(ctx context.Context) (*vision.Image, error)
}

// Still is a camera that sees one picture until it is given another (the kiosk's
// --camera still:FILE and PUT /kiosk/camera): tests, demos, headless kiosks.
type Still struct {
	mu  sync.Mutex
	img *vision.Image
}

// NewStill returns a camera that sees img (nil: nothing yet).
func NewStill(img *vision.Image) *Still { return &Still{img: img} }

// Set changes what the camera sees.
func (s *Still) Set(img *vision.Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.img = img
}

// ErrNoPicture: the camera has nothing to show.
var ErrNoPicture = errors.New("the camera sees nothing: give it a picture (PUT /kiosk/camera)")

// Frame implements Source.
func (s *Still) Frame(context.Context) (*vision.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.img == nil {
		return nil, ErrNoPicture
	}
	return s.img, nil
}

// Timeouts are camera protection's three limits (摄像头保护), configurable.
type Timeouts struct {
	NoFaceGuide   time.Duration // before recognition, guide page on: no face for this long closes the camera
	NoFaceNoGuide time.Duration // before recognition, guide page off
	NoMatch       time.Duration // after recognition starts: no match within this long times out
}

// DefaultTimeouts are the values the platform agreed with service providers.
var DefaultTimeouts = Timeouts{NoFaceGuide: 30 * time.Second, NoFaceNoGuide: 10 * time.Minute, NoMatch: 60 * time.Second}

// CameraState is what the camera is doing.
type CameraState string

// Camera states.
const (
	CameraOff       CameraState = "off"
	CameraOn        CameraState = "on"        // capturing, preview shown
	CameraOnNoView  CameraState = "on_hidden" // capturing, no preview
	CameraProtected CameraState = "protected" // closed by a protection timeout; a button re-activates it
)

// Camera is the kiosk's camera with its four operations (open, close, open
// without preview, open with preview) and camera protection, on an injected clock.
// Time is checked when the camera is used and by Check, so a test moves a fake
// clock and calls Check instead of waiting.
type Camera struct {
	src      Source
	clock    clock.Clock
	timeouts Timeouts

	mu          sync.Mutex
	state       CameraState
	guide       bool      // the guide page is on
	lastFace    time.Time // the last frame with a face, or when the camera opened
	recognising bool
	recogStart  time.Time
	why         string // why protection closed it
	noMatch     bool   // protection closed it because recognition found no match in time
}

// NewCamera wraps a frame source; the camera starts off.
func NewCamera(src Source, c clock.Clock, t Timeouts) *Camera {
	if c == nil {
		c = clock.Real{}
	}
	return &Camera{src: src, clock: c, timeouts: t, state: CameraOff, guide: true}
}

// Discarder is a source that can drop the frames it holds: a recognition must not
// read a frame taken before it started (the previous person's face).
type Discarder interface{ Discard() }

// Open turns the camera on, with or without the preview (two of the four operations;
// Open(true) is also the protection page's re-activate button). Frames the source
// took before are dropped.
func (c *Camera) Open(preview bool) {
	if d, ok := c.src.(Discarder); ok {
		d.Discard()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = CameraOnNoView
	if preview {
		c.state = CameraOn
	}
	c.lastFace, c.recognising, c.why, c.noMatch = c.clock.Now(), false, "", false
}

// Close turns the camera off.
func (c *Camera) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state, c.recognising = CameraOff, false
}

// SetGuide says whether the guide page is shown: it picks the no-face limit.
func (c *Camera) SetGuide(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.guide = on
}

// StartRecognition starts the post-recognition limit.
func (c *Camera) StartRecognition() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recognising, c.recogStart = true, c.clock.Now()
}

// EndRecognition stops it (a match, a cancel, an answer).
func (c *Camera) EndRecognition() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recognising = false
}

// SawFace records a frame with a face in it.
func (c *Camera) SawFace() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastFace = c.clock.Now()
}

// Errors of the protection timeouts.
var (
	ErrCameraOff = errors.New("the camera is off")
	ErrNoMatch   = errors.New("no successful match within the recognition time limit: the camera was closed")
)

// Check applies the protection timeouts at the clock's now and returns the state.
func (c *Camera) Check() (CameraState, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check()
	return c.state, c.why
}

func (c *Camera) check() {
	if c.state != CameraOn && c.state != CameraOnNoView {
		return
	}
	now := c.clock.Now()
	if c.recognising {
		if now.Sub(c.recogStart) >= c.timeouts.NoMatch {
			c.state, c.recognising, c.noMatch = CameraProtected, false, true
			c.why = "no match within " + c.timeouts.NoMatch.String() + " of starting recognition"
		}
		return
	}
	limit := c.timeouts.NoFaceNoGuide
	if c.guide {
		limit = c.timeouts.NoFaceGuide
	}
	if now.Sub(c.lastFace) >= limit {
		c.state, c.why = CameraProtected, "no face for "+limit.String()
	}
}

// Frame reads a frame if the camera is on and protection has not closed it.
func (c *Camera) Frame(ctx context.Context) (*vision.Image, error) {
	c.mu.Lock()
	c.check()
	st, noMatch := c.state, c.noMatch
	c.mu.Unlock()
	switch {
	case st == CameraProtected && noMatch:
		return nil, ErrNoMatch
	case st != CameraOn && st != CameraOnNoView:
		return nil, ErrCameraOff
	}
	return c.src.Frame(ctx)
}

// Recognising reports whether a recognition's time limit is running.
func (c *Camera) Recognising() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recognising
}

// Video is a camera that plays a recorded video's frames in a loop (the kiosk's
// --camera video:FILE), one frame per read.
type Video struct {
	mu     sync.Mutex
	frames []*vision.Image
	next   int
}

// NewVideo returns a camera that plays frames in a loop.
func NewVideo(frames []*vision.Image) *Video { return &Video{frames: frames} }

// Frame implements Source.
func (v *Video) Frame(context.Context) (*vision.Image, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.frames) == 0 {
		return nil, ErrNoPicture
	}
	f := v.frames[v.next%len(v.frames)]
	v.next++
	return f, nil
}
