package kiosk

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openfacepay/openfacepay/internal/face/vision"
)

// PageCamera is a camera whose frames come from the kiosk page: the browser reads
// the device's camera (getUserMedia) and posts frames to /kiosk/frame while the
// SDK has the camera open. Each Frame waits for a frame newer than the last one.
type PageCamera struct {
	mu     sync.Mutex
	frame  *vision.Image
	seq    uint64
	given  uint64
	notify chan struct{}
	wait   time.Duration
}

// NewPageCamera returns a page camera that waits up to wait for each frame.
func NewPageCamera(wait time.Duration) *PageCamera {
	return &PageCamera{notify: make(chan struct{}), wait: wait}
}

// ErrNoPageFrames: the page sent no frame in time (no page open, or no camera permission).
var ErrNoPageFrames = errors.New("the kiosk page sends no camera frames: open it and allow the camera")

// Put stores a frame from the page.
func (c *PageCamera) Put(img *vision.Image) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frame = img
	c.seq++
	close(c.notify)
	c.notify = make(chan struct{})
}

// Discard implements terminal.Discarder: frames sent so far are not returned.
func (c *PageCamera) Discard() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.given = c.seq
}

// Frame implements terminal.Source.
func (c *PageCamera) Frame(ctx context.Context) (*vision.Image, error) {
	t := time.NewTimer(c.wait)
	defer t.Stop()
	for {
		c.mu.Lock()
		if c.seq > c.given {
			c.given = c.seq
			f := c.frame
			c.mu.Unlock()
			return f, nil
		}
		ch := c.notify
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, ErrNoPageFrames
		}
	}
}
