package vision

import (
	"bufio"

	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Y4M is a YUV4MPEG2 video of 4:2:0 frames: the format Chromium's fake camera plays
// and the kiosk's --camera video:FILE reads. Frames are converted with the BT.601
// full-range (JPEG) matrix.

// WriteY4M writes frames (all of one size, even width and height) as a YUV4MPEG2
// video at fps frames per second.
func WriteY4M(w io.Writer, frames []*Image, fps int) error {
	if len(frames) == 0 {
		return errors.New("vision: a video needs a frame")
	}
	fw, fh := frames[0].W, frames[0].H
	if fw%2 != 0 || fh%2 != 0 {
		return fmt.Errorf("vision: y4m frames need even sides, not %dx%d", fw, fh)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", fw, fh, fps)
	y := make([]byte, fw*fh)
	u := make([]byte, fw*fh/4)
	v := make([]byte, fw*fh/4)
	for _, f := range frames {
		if f.W != fw || f.H != fh {
			return errors.New("vision: y4m frames must all be the same size")
		}
		for j := 0; j < fh; j++ {
			for i := 0; i < fw; i++ {
				p := f.Pix[(j*fw+i)*3:]
				y[j*fw+i] = clamp8(0.299*p[0] + 0.587*p[1] + 0.114*p[2])
			}
		}
		for j := 0; j < fh/2; j++ {
			for i := 0; i < fw/2; i++ { // chroma of the 2×2 block's mean colour
				var r, g, b float32
				for _, o := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
					p := f.Pix[((2*j+o[1])*fw+2*i+o[0])*3:]
					r, g, b = r+p[0]/4, g+p[1]/4, b+p[2]/4
				}
				u[j*(fw/2)+i] = clamp8(-0.168736*r - 0.331264*g + 0.5*b + 128)
				v[j*(fw/2)+i] = clamp8(0.5*r - 0.418688*g - 0.081312*b + 128)
			}
		}
		bw.WriteString("FRAME\n")
		bw.Write(y)
		bw.Write(u)
		bw.Write(v)
	}
	return bw.Flush()
}

// MaxY4MBytes bounds a video the kiosk reads into memory.
const MaxY4MBytes = 256 << 20

// ReadY4M reads every frame of a 4:2:0 YUV4MPEG2 video.
func ReadY4M(r io.Reader) ([]*Image, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxY4MBytes))
	head, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "YUV4MPEG2 ") {
		return nil, errors.New("vision: not a YUV4MPEG2 video")
	}
	w, h := 0, 0
	for _, tok := range strings.Fields(head)[1:] {
		switch tok[0] {
		case 'W':
			w, _ = strconv.Atoi(tok[1:])
		case 'H':
			h, _ = strconv.Atoi(tok[1:])
		case 'C':
			if !strings.HasPrefix(tok, "C420") {
				return nil, fmt.Errorf("vision: y4m colour space %s; only 4:2:0 is read", tok[1:])
			}
		}
	}
	if w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 || w*h > MaxPixels {
		return nil, fmt.Errorf("vision: y4m frame size %dx%d", w, h)
	}
	var out []*Image
	buf := make([]byte, w*h*3/2)
	for {
		line, err := br.ReadString('\n')
		if errors.Is(err, io.EOF) && line == "" {
			break
		}
		if err != nil || !strings.HasPrefix(line, "FRAME") {
			return nil, errors.New("vision: a y4m frame header is missing")
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, errors.New("vision: a y4m frame is truncated")
		}
		out = append(out, fromYUV420(buf, w, h))
	}
	if len(out) == 0 {
		return nil, errors.New("vision: the video has no frame")
	}
	return out, nil
}

func fromYUV420(b []byte, w, h int) *Image {
	img := New(w, h)
	y, u, v := b[:w*h], b[w*h:w*h+w*h/4], b[w*h+w*h/4:]
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			yy := float32(y[j*w+i])
			cb := float32(u[(j/2)*(w/2)+i/2]) - 128
			cr := float32(v[(j/2)*(w/2)+i/2]) - 128
			p := img.Pix[(j*w+i)*3:]
			p[0] = min(255, max(0, yy+1.402*cr))
			p[1] = min(255, max(0, yy-0.344136*cb-0.714136*cr))
			p[2] = min(255, max(0, yy+1.772*cb))
		}
	}
	return img
}
