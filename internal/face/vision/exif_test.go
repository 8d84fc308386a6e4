package vision

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// exifJPEG encodes a 4×2 image whose top-left quarter is white and inserts an
// APP1 EXIF segment with the given orientation and byte order.
func exifJPEG(t *testing.T, orientation uint16, bo binary.ByteOrder) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			img.Set(x, y, color.White)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	tiff := make([]byte, 8+2+12+4)
	if bo == binary.LittleEndian {
		copy(tiff, "II")
	} else {
		copy(tiff, "MM")
	}
	bo.PutUint16(tiff[2:], 42)
	bo.PutUint32(tiff[4:], 8)
	bo.PutUint16(tiff[8:], 1)
	bo.PutUint16(tiff[10:], 0x0112)
	bo.PutUint16(tiff[12:], 3)
	bo.PutUint32(tiff[14:], 1)
	bo.PutUint16(tiff[18:], orientation)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(app1[2:], uint16(len(seg)+2))
	data := buf.Bytes()
	out := append([]byte{}, data[:2]...)
	out = append(out, app1...)
	out = append(out, seg...)
	return append(out, data[2:]...)
}

// TestDecodeAppliesEXIFOrientation checks where the white corner lands for each
// orientation, in both byte orders, as a phone's gallery shows the photo.
func TestDecodeAppliesEXIFOrientation(t *testing.T) {
	cases := []struct {
		o          uint16
		w, h       int
		cornerX, y int // a pixel inside where the white quarter must be
	}{
		{1, 32, 16, 2, 2},
		{3, 32, 16, 29, 13}, // turned 180°
		{6, 16, 32, 13, 2},  // turned 90° clockwise: top-left goes top-right
		{8, 16, 32, 2, 29},  // turned 90° anticlockwise: top-left goes bottom-left
		{2, 32, 16, 29, 2},  // mirrored
	}
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, c := range cases {
			img, err := Decode(bytes.NewReader(exifJPEG(t, c.o, bo)))
			if err != nil {
				t.Fatal(err)
			}
			if img.W != c.w || img.H != c.h {
				t.Fatalf("orientation %d: %dx%d, want %dx%d", c.o, img.W, img.H, c.w, c.h)
			}
			if v := img.Pix[(c.y*img.W+c.cornerX)*3]; v < 200 {
				t.Fatalf("orientation %d (%v): pixel (%d,%d) is %.0f, want the white corner there", c.o, bo, c.cornerX, c.y, v)
			}
		}
	}
}

func FuzzJPEGOrientation(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0})
	f.Add([]byte("\xFF\xD8\xFF\xE1\x00\x20Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := jpegOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d outside 1..8", o)
		}
	})
}
