// SPDX-License-Identifier: MIT
// What bench_onnx.js and profile_onnx.js share: their command line and the
// fixed random input batch (inputs in [0, 1) from an LCG, as cnnrun bench's).
'use strict';

// MODEL.onnx --shape C,H,W [--batch B] [--threads T] [--runs R] [--warmup W],
// and each name in `flags` as a boolean option (--cpu).
function parseArgs(argv, usage, defaults, flags = []) {
  const a = { batch: 1, threads: 1, shape: null, model: null, ...defaults };
  for (const f of flags) a[f] = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < (k === '--warmup' ? 0 : 1))
        throw new Error(`${k}: expected a positive integer, got '${argv[i]}'`);
      return v;
    };
    if (k === '--batch') a.batch = num();
    else if (k === '--threads') a.threads = num();
    else if (k === '--runs') a.runs = num();
    else if (k === '--warmup') a.warmup = num();
    else if (k.startsWith('--') && flags.includes(k.slice(2))) a[k.slice(2)] = true;
    else if (k === '--shape') {
      a.shape = String(argv[++i]).split(',').map(Number);
      if (a.shape.length !== 3 || a.shape.some((v) => !Number.isInteger(v) || v < 1))
        throw new Error(`--shape: expected C,H,W, got '${argv[i]}'`);
    } else if (!a.model && !k.startsWith('--')) a.model = k;
    else throw new Error(`unknown argument '${k}'`);
  }
  if (!a.model || !a.shape) throw new Error(usage);
  return a;
}

// The session's feeds: one [batch, C, H, W] float32 tensor.
function inputFeeds(ort, session, a) {
  const dims = [a.batch, ...a.shape];
  const x = new Float32Array(dims.reduce((p, v) => p * v, 1));
  let s = 12345;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    x[i] = s / 2147483648;
  }
  return { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };
}

module.exports = { parseArgs, inputFeeds };
