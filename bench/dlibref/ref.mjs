// ref.mjs computes face-api's own 128-d dlib descriptors for the reference chips
// that internal/face/engine's TestDlibWriteChips writes, and prints
// internal/face/engine/testdata/dlib_reference.json. See README.md here.
//
//   node ref.mjs DEPS CHIPS > internal/face/engine/testdata/dlib_reference.json
//
// DEPS is a scratch folder (outside the repository) where
//   npm install --ignore-scripts @tensorflow/tfjs@4.22.0 vladmandic-face-api-1.7.15.tgz
// was run; CHIPS holds chips.json and <name>.rgb (150×150 RGB bytes).
//
// face-api's Node build (dist/face-api.node.js, the package's "main") requires
// @tensorflow/tfjs-node, whose install script downloads a native library. This
// script hands it the pure-JavaScript @tensorflow/tfjs of the version face-api
// 1.7.15 was built with (4.22.0, dist/tfjs.version.js) instead, and runs the
// CPU backend. face-api's code and the weights are used exactly as shipped.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import Module, { createRequire } from 'node:module';

const [deps, chipsDir] = process.argv.slice(2);
if (!deps || !chipsDir) {
  console.error('usage: node ref.mjs DEPS CHIPS');
  process.exit(2);
}
const require = createRequire(path.resolve(deps, 'package.json'));
const load = Module._load;
Module._load = function (request, parent, isMain) {
  return load.call(this, request === '@tensorflow/tfjs-node' ? '@tensorflow/tfjs' : request, parent, isMain);
};
const faceapi = require('@vladmandic/face-api');
const { tf } = faceapi;
await tf.setBackend('cpu');
await tf.ready();

const pkgDir = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const modelDir = path.join(pkgDir, 'model');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
// The same files modelpack pins as dlib-manifest and dlib-weights.
const pinned = {
  'face_recognition_model-weights_manifest.json': 'cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b',
  'face_recognition_model.bin': 'b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589',
};
for (const [f, want] of Object.entries(pinned)) {
  const got = sha256(fs.readFileSync(path.join(modelDir, f)));
  if (got !== want) throw new Error(`${f}: sha256 ${got}, pinned ${want}`);
}
const net = faceapi.nets.faceRecognitionNet;
await net.loadFromDisk(modelDir);

const mean = [122.782, 117.001, 104.298];
const round = (v) => Number(v.toPrecision(9)); // enough to give back the float32 exactly
async function describe(pixels) {
  const input = tf.tensor3d(pixels, [150, 150, 3], 'float32');
  const d = await net.computeFaceDescriptor(input);
  input.dispose();
  return Array.from(d, round);
}

const chips = JSON.parse(fs.readFileSync(path.join(chipsDir, 'chips.json'), 'utf8'));
const out = [];
for (const c of chips) {
  const rgb = fs.readFileSync(path.join(chipsDir, `${c.name}.rgb`));
  if (rgb.length !== 150 * 150 * 3) throw new Error(`${c.name}: ${rgb.length} bytes`);
  if (sha256(rgb) !== c.sha256) throw new Error(`${c.name}: sha256 differs from chips.json`);
  const px = Float32Array.from(rgb);
  // face-api normalises as (v - mean) / 255; dlib divides by 256. Moving each
  // value towards the mean by 255/256 makes face-api compute dlib's scaling.
  const toDlib = Float32Array.from(rgb, (v, i) => mean[i % 3] + (v - mean[i % 3]) * 255 / 256);
  out.push({ ...c, faceapi: await describe(px), faceapi_dlib_scale: await describe(toDlib) });
}
const note = `face-api's FaceRecognitionNet descriptors: ${pkg.name}@${pkg.version} (dist/face-api.node.js, weights model/face_recognition_model*) `
  + `on @tensorflow/tfjs ${tf.version.tfjs} backend ${tf.getBackend()}, node ${process.version}; `
  + 'chips from TestDlibWriteChips (internal/face/engine/dlib_test.go), written by bench/dlibref/ref.mjs';
// One line per array keeps the fixture short and readable.
const json = JSON.stringify({ note, chips: out }, null, 1)
  .replace(/\[\n\s+([^[\]{}]*?)\n\s*\]/g, (_, inner) => `[${inner.replace(/,\s*\n\s*/g, ', ')}]`);
process.stdout.write(`${json}\n`);
