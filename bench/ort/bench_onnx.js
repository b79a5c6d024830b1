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
const { parseArgs, inputFeeds } = require('./bench_args');

async function main() {
  const a = parseArgs(process.argv.slice(2), 'usage: node bench_onnx.js MODEL.onnx '
    + '--shape C,H,W [--batch B] [--threads T] [--runs R] [--warmup W] [--cpu]',
  { runs: 10, warmup: 2 }, ['cpu']);
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = inputFeeds(ort, session, a);
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
