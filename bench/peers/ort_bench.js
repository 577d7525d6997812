#!/usr/bin/env node
// ONNX Runtime's side of condense's model benchmark (bench/models/run_peers.sh).
//
//   node bench/peers/ort_bench.js MODEL.onnx --batch 64 --threads 2 --min-time 1 [--warmup 5]
//
// CPU execution provider, intraOpNumThreads = threads, interOpNumThreads = 1, sequential
// execution, graph optimization level "all". Inputs are uniform [0, 1) float32 from a fixed seed;
// a symbolic dimension takes --batch (dimension 0) or 1 (others), as in condense_model_bench.
// Prints one JSON object: {"runtime": "ort", "median_ms": ..., "min_ms": ..., "iters": ...,
// "load_ms": ...} or {"runtime": "ort", "error": "..."} with exit code 1.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function parseArgs(argv) {
  const a = {model: null, batch: 1, threads: 1, minTime: 1.0, warmup: 5};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--batch') a.batch = parseInt(next(), 10);
    else if (k === '--threads') a.threads = parseInt(next(), 10);
    else if (k === '--min-time') a.minTime = parseFloat(next());
    else if (k === '--warmup') a.warmup = parseInt(next(), 10);
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else a.model = k;
  }
  if (!a.model) throw new Error('usage: ort_bench.js MODEL.onnx [--batch N] [--threads T] [--min-time S]');
  if (!(a.batch > 0) || !(a.threads > 0)) throw new Error('--batch and --threads must be positive');
  return a;
}

// xorshift32: deterministic inputs without a dependency.
function makeRng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function makeFeeds(session, batch) {
  const rng = makeRng(1234);
  const feeds = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor || meta.type !== 'float32') throw new Error(`input '${meta.name}' is not a float32 tensor`);
    const shape = meta.shape.map((d, i) => {
      if (typeof d === 'number' && d >= 0) {
        if (i === 0 && batch > 1 && d !== batch) throw new Error(`input '${meta.name}' has a fixed batch of ${d} (asked for ${batch})`);
        return d;
      }
      return i === 0 ? batch : 1;
    });
    const n = shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; ++i) data[i] = rng();
    feeds[meta.name] = new ort.Tensor('float32', data, shape);
  }
  return feeds;
}

async function main() {
  const out = {runtime: 'ort', version: require(path.join(__dirname, 'node_modules', 'onnxruntime-node', 'package.json')).version};
  try {
    const a = parseArgs(process.argv.slice(2));
    Object.assign(out, {batch: a.batch, threads: a.threads});
    const t0 = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(a.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: a.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const feeds = makeFeeds(session, a.batch);
    out.load_ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // Untimed: `warmup` runs and a quarter of min-time.
    const warmStart = process.hrtime.bigint();
    for (let i = 0; i < a.warmup || Number(process.hrtime.bigint() - warmStart) / 1e9 < 0.25 * a.minTime; ++i)
      await session.run(feeds);
    const times = [];
    const start = process.hrtime.bigint();
    while (times.length < 10 || Number(process.hrtime.bigint() - start) / 1e9 < a.minTime) {
      const s = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    times.sort((x, y) => x - y);
    const n = times.length;
    out.median_ms = n % 2 ? times[(n - 1) / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    out.min_ms = times[0];
    out.iters = n;
  } catch (e) {
    out.error = String(e && e.message ? e.message : e).split('\n')[0];
    console.log(JSON.stringify(out));
    process.exitCode = 1;
    return;
  }
  console.log(JSON.stringify(out));
}

main();
