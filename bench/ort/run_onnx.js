// SPDX-License-Identifier: MIT
// Runs an ONNX model with ONNX Runtime (CPU) on a float32 .npy input and
// writes the first output as .npy; with --bench R, times R runs after one
// warm-up and prints the median in milliseconds as JSON.
//   node run_onnx.js MODEL.onnx X.npy [Y.npy] [--threads T] [--bench R]
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${path}: float32 C-order arrays only (${header.trim()})`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
    .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const off = start + hlen;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(off + 4 * i);
  return { shape, data };
}

function writeNpy(path, shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = Buffer.alloc(10 + header.length + 4 * data.length);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1; out[7] = 0;
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], 10 + header.length + 4 * i);
  const tmp = `${path}.tmp${process.pid}`;
  fs.writeFileSync(tmp, out);
  fs.renameSync(tmp, path);
}

async function main() {
  const args = process.argv.slice(2);
  let threads = 1, reps = 0;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--bench') reps = Number(args[++i]);
    else pos.push(args[i]);
  }
  if (pos.length < 2) {
    console.error('usage: node run_onnx.js MODEL.onnx X.npy [Y.npy] [--threads T] [--bench R]');
    process.exit(2);
  }
  const session = await ort.InferenceSession.create(pos[0], {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const x = readNpy(pos[1]);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  let result = await session.run(feeds);
  if (reps > 0) {
    const times = [];
    for (let r = 0; r < reps; r++) {
      const t0 = process.hrtime.bigint();
      result = await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], reps, threads,
      batch: x.shape[0], ort: require('onnxruntime-node/package.json').version }));
  }
  const y = result[session.outputNames[0]];
  if (pos[2]) writeNpy(pos[2], y.dims, y.data);
}

main().catch((e) => { console.error(`run_onnx.js: ${e.message || e}`); process.exit(1); });
