// SPDX-License-Identifier: MIT
// ONNX Runtime (CPU) side of bench/compare.py: times inference of an .onnx
// model on a fixed random batch, the same work as `cnnrun bench GRAPH`
// without --train. intraOpNumThreads = --threads (one inter-op thread,
// sequential execution, all graph optimisations); --warmup untimed runs,
// then --runs timed ones; prints one JSON object with their median. With
// --cpu, each run's process CPU time (user + system) instead of wall time:
// on a loaded machine what the work costs, whatever the preemption.
//   node bench_onnx.js MODEL.onnx --shape C,H,W [--batch B] [--threads T]
//                      [--runs R] [--warmup W] [--cpu]
'use strict';
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { batch: 1, threads: 1, runs: 10, warmup: 2, shape: null, model: null, cpu: false };
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
    else if (k === '--cpu') a.cpu = true;
    else if (k === '--shape') {
      a.shape = String(argv[++i]).split(',').map(Number);
      if (a.shape.length !== 3 || a.shape.some((v) => !Number.isInteger(v) || v < 1))
        throw new Error(`--shape: expected C,H,W, got '${argv[i]}'`);
    } else if (!a.model && !k.startsWith('--')) a.model = k;
    else throw new Error(`unknown argument '${k}'`);
  }
  if (!a.model || !a.shape) throw new Error('usage: node bench_onnx.js MODEL.onnx --shape C,H,W '
    + '[--batch B] [--threads T] [--runs R] [--warmup W] [--cpu]');
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const dims = [a.batch, ...a.shape];
  const x = new Float32Array(dims.reduce((p, v) => p * v, 1));
  let s = 12345;  // a fixed LCG: inputs in [0, 1) as cnnrun bench's
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    x[i] = s / 2147483648;
  }
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };
  for (let r = 0; r < a.warmup; r++) await session.run(feeds);
  const steps = [];
  for (let r = 0; r < a.runs; r++) {
    if (a.cpu) {
      const c0 = process.cpuUsage();
      await session.run(feeds);
      const d = process.cpuUsage(c0);
      steps.push((d.user + d.system) / 1e3);
    } else {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      steps.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const sorted = [...steps].sort((p, q) => p - q);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  console.log(JSON.stringify({
    tool: 'onnxruntime', ort: require('onnxruntime-node/package.json').version,
    model: a.model, batch: a.batch, threads: a.threads, runs: a.runs, warmup: a.warmup,
    clock: a.cpu ? 'process-cpu' : 'wall', step_ms: median, steps_ms: steps,
  }));
}

main().catch((e) => { console.error(`bench_onnx.js: ${e.message || e}`); process.exit(1); });
