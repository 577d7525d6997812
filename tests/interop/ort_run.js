#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU) on inputs given as TensorProto .pb
// files and writes each output as a TensorProto .pb: the peer side of condense's interop tests.
//
//   node tests/interop/ort_run.js [--threads N] model.onnx OUT_DIR input_0.pb [input_1.pb ...]
//
// Inputs bind by the TensorProto's name when it names a model input, else by position (in the
// order ORT lists the model's inputs). Outputs go to OUT_DIR/output_<k>.pb in ORT's output order,
// each named after its graph output. onnxruntime-node is resolved from
// <repository root>/bench/peers/node_modules (install: cd bench/peers && npm install
// --ignore-scripts). Exit status: 0 ok, 77 onnxruntime-node missing (a test skips), 1 other error.
'use strict';

const fs = require('fs');
const path = require('path');

// ---- TensorProto wire format (onnx.proto field numbers) ----------------------------------------
// dims=1 (int64), data_type=2, float_data=4, int32_data=5, string_data=6, int64_data=7, name=8,
// raw_data=9, double_data=10, uint64_data=11.
const ELEM = {
  1: {type: 'float32', bytes: 4}, 2: {type: 'uint8', bytes: 1}, 3: {type: 'int8', bytes: 1},
  4: {type: 'uint16', bytes: 2}, 5: {type: 'int16', bytes: 2}, 6: {type: 'int32', bytes: 4},
  7: {type: 'int64', bytes: 8}, 9: {type: 'bool', bytes: 1}, 10: {type: 'float16', bytes: 2},
  11: {type: 'float64', bytes: 8}, 12: {type: 'uint32', bytes: 4}, 13: {type: 'uint64', bytes: 8},
};
const ELEM_OF_TYPE = Object.fromEntries(Object.entries(ELEM).map(([k, v]) => [v.type, Number(k)]));

function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
  return [result, pos];
}

function decodeTensorProto(buf) {
  const t = {dims: [], dataType: 0, name: '', raw: null, floats: [], ints: [], doubles: []};
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    // Reads one scalar of a repeated numeric field in either packed or unpacked encoding.
    const scalars = (kind, sink) => {
      if (wire === 2) {
        let len;
        [len, pos] = readVarint(buf, pos);
        const end = pos + Number(len);
        if (end > buf.length) throw new Error('truncated field');
        while (pos < end) pos = readScalar(kind, sink, pos, end);
      } else {
        pos = readScalar(kind, sink, pos, buf.length);
      }
    };
    const readScalar = (kind, sink, p, end) => {
      if (kind === 'varint') {
        let v;
        [v, p] = readVarint(buf, p);
        sink.push(BigInt.asIntN(64, v));
        return p;
      }
      const n = kind === 'f32' ? 4 : 8;
      if (p + n > end) throw new Error('truncated fixed field');
      sink.push(kind === 'f32' ? buf.readFloatLE(p) : buf.readDoubleLE(p));
      return p + n;
    };
    if (field === 1) scalars('varint', t.dims);
    else if (field === 2) {
      let v;
      [v, pos] = readVarint(buf, pos);
      t.dataType = Number(v);
    } else if (field === 4) scalars('f32', t.floats);
    else if (field === 5 || field === 7 || field === 11) scalars('varint', t.ints);
    else if (field === 10) scalars('f64', t.doubles);
    else if (field === 8 || field === 9) {
      let len;
      [len, pos] = readVarint(buf, pos);
      const bytes = buf.subarray(pos, pos + Number(len));
      if (bytes.length !== Number(len)) throw new Error('truncated bytes field');
      pos += Number(len);
      if (field === 8) t.name = bytes.toString('utf8');
      else t.raw = Buffer.from(bytes);
    } else {  // skip unknown fields
      if (wire === 0) [, pos] = readVarint(buf, pos);
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        let len;
        [len, pos] = readVarint(buf, pos);
        pos += Number(len);
      } else throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return t;
}

function tensorFromProto(ort, t) {
  const elem = ELEM[t.dataType];
  if (!elem) throw new Error(`tensor '${t.name}': unsupported data_type ${t.dataType}`);
  const dims = t.dims.map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const Typed = {
    float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array,
    int16: Int16Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array,
    float16: Uint16Array, float64: Float64Array, uint32: Uint32Array, uint64: BigUint64Array,
  }[elem.type];
  let data;
  if (t.raw) {
    if (t.raw.length !== count * elem.bytes)
      throw new Error(`tensor '${t.name}': raw_data has ${t.raw.length} bytes, expected ${count * elem.bytes}`);
    const copy = new Uint8Array(t.raw);  // aligned copy
    data = new Typed(copy.buffer, 0, count);
  } else {
    data = new Typed(count);
    const src = t.dataType === 1 ? t.floats : t.dataType === 11 ? t.doubles : t.ints;
    if (src.length !== count)
      throw new Error(`tensor '${t.name}': has ${src.length} values, expected ${count}`);
    for (let i = 0; i < count; ++i) {
      const v = src[i];
      data[i] = (Typed === BigInt64Array || Typed === BigUint64Array) ? BigInt(v) : Number(v);
    }
  }
  if (elem.type === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  return new ort.Tensor(elem.type, data, dims);
}

function writeVarint(out, v) {
  let x = BigInt.asUintN(64, BigInt(v));
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
}

function encodeTensorProto(name, tensor) {
  const elemType = ELEM_OF_TYPE[tensor.type];
  if (!elemType) throw new Error(`output '${name}': unsupported ORT type ${tensor.type}`);
  const head = [];
  for (const d of tensor.dims) {  // dims, unpacked
    writeVarint(head, (1 << 3) | 0);
    writeVarint(head, d);
  }
  writeVarint(head, (2 << 3) | 0);
  writeVarint(head, elemType);
  const nameBytes = Buffer.from(name, 'utf8');
  writeVarint(head, (8 << 3) | 2);
  writeVarint(head, nameBytes.length);
  const d = tensor.data;
  const raw = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  const rawHead = [];
  writeVarint(rawHead, (9 << 3) | 2);
  writeVarint(rawHead, raw.length);
  return Buffer.concat([Buffer.from(head), nameBytes, Buffer.from(rawHead), raw]);
}

function loadOrt() {
  const root = path.resolve(__dirname, '..', '..');
  const dir = path.join(root, 'bench', 'peers', 'node_modules', 'onnxruntime-node');
  if (!fs.existsSync(dir)) return null;
  return require(dir);
}

async function main(argv) {
  let threads = 1;
  const args = [];
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--threads') threads = Number(argv[++i]);
    else args.push(argv[i]);
  }
  if (args.length < 2) {
    console.error('usage: ort_run.js [--threads N] model.onnx OUT_DIR input_0.pb [input_1.pb ...]');
    return 1;
  }
  const ort = loadOrt();
  if (!ort) {
    console.error('onnxruntime-node not installed: run `cd bench/peers && npm install --ignore-scripts`');
    return 77;
  }
  const [model, outDir, ...inputFiles] = args;
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'],
  });
  if (inputFiles.length !== session.inputNames.length)
    throw new Error(`model has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}), got ${inputFiles.length} files`);
  const feeds = {};
  inputFiles.forEach((file, i) => {
    const proto = decodeTensorProto(fs.readFileSync(file));
    const name = session.inputNames.includes(proto.name) ? proto.name : session.inputNames[i];
    feeds[name] = tensorFromProto(ort, proto);
  });
  const start = process.hrtime.bigint();
  const results = await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  fs.mkdirSync(outDir, {recursive: true});
  session.outputNames.forEach((name, k) => {
    fs.writeFileSync(path.join(outDir, `output_${k}.pb`), encodeTensorProto(name, results[name]));
  });
  console.log(`ort ${ort.env.versions.common}: ran ${path.basename(model)} in ${ms.toFixed(1)} ms (${threads} thread(s))`);
  return 0;
}

module.exports = {decodeTensorProto, encodeTensorProto, tensorFromProto, loadOrt};

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
    console.error(`ort_run.js: ${err && err.message ? err.message : err}`);
    process.exit(1);
  });
}
