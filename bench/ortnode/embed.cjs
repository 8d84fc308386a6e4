// Runs one ONNX model on the inputs `facepay bench face` wrote, the way the Go
// engine runs it, and prints JSON timings and outputs for comparison.
// Usage: node embed.cjs MODEL INPUT_NAME DIMS(1x3x112x112) INPUTS.f32 THREADS ITERATIONS
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputName, dimsArg, inputs, threads, iterations] = process.argv.slice(2);
  const dims = dimsArg.split('x').map(Number);
  const per = dims.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(inputs);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const n = all.length / per;
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
  });
  const out = session.outputNames[0];
  const feeds = [];
  for (let i = 0; i < n; i++) feeds.push({ [inputName]: new ort.Tensor('float32', all.slice(i * per, (i + 1) * per), dims) });
  const first = [];
  for (const f of feeds) first.push(Array.from((await session.run(f))[out].data)); // warm-up and outputs
  const times = [];
  for (let it = 0; it < Number(iterations); it++) {
    for (const f of feeds) {
      const t = process.hrtime.bigint();
      await session.run(f);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  process.stdout.write(JSON.stringify({ runs: times.length, ms_mean: mean, ms_p50: times[times.length >> 1], outputs: first }) + '\n');
}
main().catch((e) => { console.error(e); process.exit(1); });
