// SPDX-License-Identifier: MIT
// ONNX Runtime's time per node, to set beside `cnnrun bench GRAPH`'s
// per-layer table: runs an .onnx model with ONNX Runtime's profiler on,
// then prints each node's median kernel time over the runs after warm-up
// (ONNX Runtime names a fused node after its last op, e.g. "relu2_nchwc"
// for conv2 + relu2 in its NCHWc layout). Same session options and input
// as bench_onnx.js.
//   node profile_onnx.js MODEL.onnx --shape C,H,W [--batch B] [--threads T]
//                        [--runs R] [--warmup W]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');
const { parseArgs, inputFeeds } = require('./bench_args');

function median(v) {
  const s = [...v].sort((p, q) => p - q);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

async function main() {
  const a = parseArgs(process.argv.slice(2), 'usage: node profile_onnx.js MODEL.onnx '
    + '--shape C,H,W [--batch B] [--threads T] [--runs R] [--warmup W]', { runs: 20, warmup: 3 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  try {
    const session = await ort.InferenceSession.create(a.model, {
      intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
      graphOptimizationLevel: 'all', enableProfiling: true,
      profileFilePrefix: path.join(dir, 'ort'),
    });
    const feeds = inputFeeds(ort, session, a);
    for (let r = 0; r < a.warmup + a.runs; r++) await session.run(feeds);
    session.endProfiling();
    await session.release();
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    if (files.length !== 1) throw new Error(`expected one profile in ${dir}, found ${files.length}`);
    const events = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8'));
    const times = new Map();  // node name -> kernel times (ms), in run order
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      if (!times.has(name)) times.set(name, []);
      times.get(name).push(e.dur / 1000);
    }
    console.log(`ONNX Runtime ${require('onnxruntime-node/package.json').version}: ${a.model}, `
      + `batch ${a.batch}, ${a.threads} thread(s); median kernel time of ${a.runs} runs `
      + `after ${a.warmup} warm-up(s)`);
    let total = 0;
    for (const [name, v] of times) {
      const m = median(v.slice(a.warmup));
      total += m;
      console.log(`${name.padEnd(44)} ${m.toFixed(3).padStart(9)} ms`);
    }
    console.log(`${'Sum of nodes'.padEnd(44)} ${total.toFixed(3).padStart(9)} ms`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(`profile_onnx.js: ${e.message || e}`); process.exit(1); });
