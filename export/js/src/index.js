// tfncsn-runtime: samples and inpaints from a `tfncsn export` with ONNX Runtime, in Node
// (onnxruntime-node) or in a browser (onnxruntime-web), the same code for both.
//
// The export's contract is docs/export.md of the tfncsn repository: metadata.json says how to
// loop each step program (its state, the noise of every step, the prior), so nothing here
// knows any sampler's maths. This is the twin of export/tfncsn_runtime/ (reader.py, noise.py).
//
//   import * as ort from 'onnxruntime-node';      // or 'onnxruntime-web'
//   import { loadExport, Rng } from 'tfncsn-runtime';
//   import { nodeFiles } from 'tfncsn-runtime/node';  // or fetchFiles(url) in a browser
//   const model = await loadExport({ ort, files: nodeFiles('runs/toy/export') });
//   console.log((await model.checkGolden()).summary);
//   const x = await model.sample(1280, { rng: new Rng(0) });  // Float32Array [1280 * 2]
//   model.samplePrograms();   // [{name: 'sample', ...}, {name: 'sample_ode_19', ...}]
//   await model.sample(64, { program: 'sample_ode_19' });    // another exported sampler

import { Rng } from './random.js';

export { Rng };

export const FORMAT = 'tfncsn.score/2';
export const REQUIRED_KEYS = ['format', 'element_shape', 'sigmas', 'sampler', 'programs',
  'prior_range', 'postprocess'];
export const METADATA_FILE = 'metadata.json';
export const SCORE_FILE = 'model.onnx';
/** The sample program every runtime loops unless told: the export's own sampler. The others
 *  are named sample_<sampler>_<score evaluations> (`tfncsn export --extra_samplers`; the
 *  rule is export/tfncsn_runtime/programs.py's). */
export const DEFAULT_PROGRAM = 'sample';
const DTYPES = { float32: Float32Array, int32: Int32Array };

/** Bad input or an export this package cannot use; its message is one line naming the input
 *  and the fix. */
export class ExportError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ExportError';
  }
}

const product = (shape) => shape.reduce((a, b) => a * b, 1);
const fmt = (shape) => `[${shape.join(', ')}]`;
/** A number as printf's %.3g would show it. */
const g3 = (v) => (v !== 0 && (Math.abs(v) < 1e-4 || Math.abs(v) >= 1e6) ? v.toExponential(2)
  : String(Number(v.toPrecision(3))));

// ------------------------------------------------------------------------------ programs

/** Whether program `name` samples (`sample` or an extra sampler's), not inpaints. */
export function isSampleProgram(name) {
  return name === DEFAULT_PROGRAM || name.startsWith(`${DEFAULT_PROGRAM}_`);
}

/**
 * The export's sample programs, `sample` first: {name, sampler, options, numSteps,
 * scoreEvaluations, label}, where label reads "ode, 9 steps, 19 evaluations". An entry without
 * `sampler` (an export from before extra samplers) is the export's own sampler's.
 */
export function samplePrograms(meta) {
  const names = Object.keys(meta.programs).filter(isSampleProgram)
    .sort((a, b) => (b === DEFAULT_PROGRAM) - (a === DEFAULT_PROGRAM));
  return names.map((name) => {
    const spec = meta.programs[name];
    const sampler = spec.sampler ?? meta.sampler ?? {};
    return { name, sampler: sampler.name, options: sampler.options ?? {},
      numSteps: spec.num_steps, scoreEvaluations: spec.score_evaluations,
      label: `${sampler.name}, ${spec.num_steps} steps, ${spec.score_evaluations} evaluations` };
  });
}

// ------------------------------------------------------------------------------ file access

/** Files of an export served over HTTP (a browser, or Node 18+): `base` is the directory's
 *  URL. A missing file is an ExportError. */
export function fetchFiles(base, fetchImpl = globalThis.fetch) {
  const root = base.endsWith('/') ? base : `${base}/`;
  return {
    where: root,
    async read(name) {
      let response;
      try {
        response = await fetchImpl(new URL(name, new URL(root, globalThis.location?.href))
          .href);
      } catch (e) {
        throw new ExportError(`cannot fetch '${root}${name}' (${e.message}); is the export ` +
          'served from there?');
      }
      if (!response.ok) {
        throw new ExportError(`'${root}${name}' is missing from the export (HTTP ` +
          `${response.status}); give the directory \`tfncsn export\` wrote`);
      }
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

// ------------------------------------------------------------------------------ metadata

/** Checks the keys, format and sigmas of an export's metadata (as tfncsn_runtime does). */
export function checkMetadata(meta, where) {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
    throw new ExportError(`${where} is not a JSON object; export again with \`tfncsn export\``);
  }
  const missing = REQUIRED_KEYS.filter((key) => !(key in meta));
  if (meta.postprocess === 'inverse_logit' && !('logit_lambda' in meta)) {
    missing.push('logit_lambda'); // The logit transform's lambda, written by `tfncsn export`.
  }
  if (missing.length) {
    throw new ExportError(`${where} lacks the tfncsn metadata ${missing.join(', ')}; write ` +
      `exports with \`tfncsn export\` (this package reads format '${FORMAT}')`);
  }
  if (meta.format !== FORMAT) {
    throw new ExportError(`${where} has format '${meta.format}'; this package reads ` +
      `'${FORMAT}': export again with this tfncsn, or use the runtime of that version`);
  }
  const shape = meta.element_shape;
  if (!Array.isArray(shape) || !shape.length || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ExportError(`${where}: element_shape must be a list of positive integers, got ` +
      `${JSON.stringify(shape)}`);
  }
  const sigmas = meta.sigmas;
  if (!Array.isArray(sigmas) || !sigmas.length || sigmas.some((s, i) => !(s > 0) ||
      (i > 0 && s >= sigmas[i - 1]))) {
    throw new ExportError(`${where}: sigmas must be positive and strictly decreasing`);
  }
  if (!meta.programs || !meta.programs.sample) {
    throw new ExportError(`${where} has no sample program; export again with \`tfncsn export\``);
  }
  return meta;
}

function decodeJson(bytes, where) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ExportError(`${where} is not JSON (${e.message}); export again`);
  }
}

async function sha256Hex(bytes) {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// ------------------------------------------------------------------------------ the export

/**
 * Loads an export: reads and checks metadata.json; graphs are opened when first used.
 *
 * @param {object} options
 * @param {object} options.ort the onnxruntime-node or onnxruntime-web module (or any object
 *   with `Tensor` and `InferenceSession.create(bytes, sessionOptions)`).
 * @param {{read: (name: string) => Promise<Uint8Array>, where?: string}} options.files reads
 *   a file of the export by its name relative to the export directory (`nodeFiles(dir)`,
 *   `fetchFiles(url)`).
 * @param {object} [options.sessionOptions] passed to every `InferenceSession.create`.
 * @param {boolean} [options.checkHashes=true] compare every file read with the size and
 *   sha256 that metadata.json lists (needs `crypto.subtle`; sizes are always compared).
 */
export async function loadExport({ ort, files, sessionOptions = {}, checkHashes = true }) {
  if (!ort || !ort.Tensor || !ort.InferenceSession) {
    throw new ExportError('loadExport needs the ort module: pass { ort } from onnxruntime-node ' +
      'or onnxruntime-web');
  }
  const where = files.where ?? '';
  const meta = checkMetadata(decodeJson(await files.read(METADATA_FILE),
    `'${where}${METADATA_FILE}'`), `'${where}${METADATA_FILE}'`);
  return new Export(ort, files, meta, sessionOptions, checkHashes);
}

export class Export {
  constructor(ort, files, meta, sessionOptions, checkHashes) {
    this.ort = ort;
    this.files = files;
    this.where = files.where ?? '';
    this.meta = meta;
    this.sessionOptions = sessionOptions;
    this.checkHashes = checkHashes && !!globalThis.crypto?.subtle;
    this.elementShape = meta.element_shape.slice();
    this.elementSize = product(this.elementShape);
    this.numLevels = meta.sigmas.length;
    this.sessions = new Map();
  }

  /** The bytes of a file of the export, checked against metadata.json's `files` table. */
  async read(name) {
    const bytes = await this.files.read(name);
    const entry = this.meta.files?.[name];
    if (entry) {
      if (entry.bytes !== undefined && entry.bytes !== bytes.byteLength) {
        throw new ExportError(`'${this.where}${name}' has ${bytes.byteLength} bytes; ` +
          `metadata.json says ${entry.bytes}: the file is truncated or from another export`);
      }
      if (this.checkHashes && entry.sha256 && (await sha256Hex(bytes)) !== entry.sha256) {
        throw new ExportError(`'${this.where}${name}' does not match the sha256 in ` +
          'metadata.json: the file is corrupt or from another export; export again');
      }
    }
    return bytes;
  }

  /** The ONNX Runtime session of one graph file (opened once). */
  session(name) {
    if (!this.sessions.has(name)) {
      const opening = (async () => {
        const bytes = await this.read(name);
        try {
          return await this.ort.InferenceSession.create(bytes, this.sessionOptions);
        } catch (e) {
          const first = String(e?.message ?? e).trim().split('\n')[0].slice(0, 200);
          throw new ExportError(`cannot load '${this.where}${name}' as an ONNX model (${first})`);
        }
      })();
      opening.catch(() => this.sessions.delete(name)); // A failed open may be retried.
      this.sessions.set(name, opening);
    }
    return this.sessions.get(name);
  }

  /** Releases every session opened so far. */
  async close() {
    for (const opening of this.sessions.values()) {
      try {
        await (await opening).release?.();
      } catch { /* Failed opens have nothing to release. */ }
    }
    this.sessions.clear();
  }

  /** s(x, sigma_level): x Float32Array [n * element size], level Int32Array [n] in [0, L).
   *  `graph` may name the float16 score network (`meta.float16.graph`) instead of model.onnx. */
  async score(x, level, graph = SCORE_FILE) {
    const n = level.length;
    if (!(x instanceof Float32Array) || n === 0 || x.length !== n * this.elementSize) {
      throw new ExportError(`x must be a Float32Array of ${n} x ${this.elementSize} values ` +
        `(shape [N, ${this.elementShape.join(', ')}]), got ${x?.length} values`);
    }
    for (const l of level) {
      if (!Number.isInteger(l) || l < 0 || l >= this.numLevels) {
        throw new ExportError(`level must hold integers in [0, ${this.numLevels}), got ${l}`);
      }
    }
    const session = await this.session(graph);
    const out = await session.run({
      x: new this.ort.Tensor('float32', x, [n, ...this.elementShape]),
      level: new this.ort.Tensor('int32', Int32Array.from(level), [n]),
    });
    return out.score.data;
  }

  /** x, level and score of the golden pair (the raw files under golden/). */
  async readGolden() {
    const table = this.meta.golden;
    if (!table || !table.x || !table.level || !table.score) {
      throw new ExportError(`'${this.where}${METADATA_FILE}' lists no golden pair (key ` +
        '`golden`); export again with this tfncsn');
    }
    const arrays = {};
    for (const name of ['x', 'level', 'score']) {
      const entry = table[name];
      const file = `golden/${entry.file}`;
      const Type = DTYPES[entry.dtype];
      if (!Type) throw new ExportError(`golden ${name}: unknown dtype '${entry.dtype}'`);
      const bytes = await this.read(file);
      const expected = product(entry.shape) * Type.BYTES_PER_ELEMENT;
      if (bytes.byteLength !== expected) {
        throw new ExportError(`'${this.where}${file}' has ${bytes.byteLength} bytes; its shape ` +
          `${fmt(entry.shape)} (${entry.dtype}) needs ${expected}; export again`);
      }
      // Copy to an aligned buffer and read little-endian whatever the platform.
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const data = new Type(product(entry.shape));
      for (let i = 0; i < data.length; i++) {
        data[i] = entry.dtype === 'float32' ? view.getFloat32(4 * i, true)
          : view.getInt32(4 * i, true);
      }
      arrays[name] = { data, shape: entry.shape };
    }
    const xShape = arrays.x.shape;
    if (fmt(xShape.slice(1)) !== fmt(this.elementShape) || fmt(arrays.score.shape) !==
        fmt(xShape) || fmt(arrays.level.shape) !== fmt([xShape[0]])) {
      throw new ExportError(`the golden pair has shapes x ${fmt(xShape)}, level ` +
        `${fmt(arrays.level.shape)}, score ${fmt(arrays.score.shape)}; element_shape ` +
        `${fmt(this.elementShape)} needs x and score [N, ${this.elementShape.join(', ')}] and ` +
        'level [N]: the metadata does not belong to these files; export again');
    }
    return arrays;
  }

  /**
   * Runs the golden input through model.onnx and compares with the golden score elementwise:
   * |got - score| <= atol + rtol * scale, where scale is the root mean square of that input's
   * golden score (the export's `tolerance`, `scale: "rms"`), or |score| for exports without
   * `scale` (docs/export.md, "Golden pair and tolerance"). `graph` may name the float16 score
   * network (`meta.float16.graph`), checked with its own tolerance (`meta.float16.tolerance`).
   * @returns {Promise<{passed: boolean, count: number, maxAbs: number, maxRel: number,
   *   summary: string}>}
   */
  async checkGolden(graph = SCORE_FILE) {
    let tolerance = this.meta.tolerance ?? { atol: 1e-4, rtol: 1e-4 };
    if (graph !== SCORE_FILE) {
      if (graph !== this.meta.float16?.graph) {
        throw new ExportError(`checkGolden: '${graph}' is not a score network of this export ` +
          `(it has ${[SCORE_FILE, this.meta.float16?.graph].filter(Boolean).join(', ')}); ` +
          'export with --export_float16 for a float16 one');
      }
      tolerance = this.meta.float16.tolerance;
    }
    const golden = await this.readGolden();
    const byRms = tolerance.scale === 'rms';
    const got = await this.score(golden.x.data, golden.level.data, graph);
    const expected = golden.score.data;
    const count = golden.level.data.length;
    const perInput = expected.length / count;
    let passed = got.length === expected.length;
    let maxAbs = 0, maxRel = 0;
    for (let row = 0; row < count; row++) {
      let sumSquares = 0;
      for (let j = 0; j < perInput; j++) sumSquares += expected[row * perInput + j] ** 2;
      const rms = Math.sqrt(sumSquares / perInput);
      for (let j = 0; j < perInput; j++) {
        const i = row * perInput + j;
        const scale = byRms ? rms : Math.abs(expected[i]);
        const diff = Math.abs(got[i] - expected[i]);
        if (!(diff <= tolerance.atol + tolerance.rtol * scale)) passed = false;
        maxAbs = Math.max(maxAbs, diff);
        maxRel = Math.max(maxRel, diff / Math.max(scale, tolerance.atol));
      }
    }
    const rule = byRms ? 'rms(expected of the input)' : '|expected|';
    const numbers = `max abs diff ${g3(maxAbs)}, max rel diff ${g3(maxRel)} (tolerance ` +
      `|diff| <= ${tolerance.atol} + ${tolerance.rtol} ${rule})`;
    const which = graph === SCORE_FILE ? '' : ` of ${graph}`;
    return {
      passed, count, maxAbs, maxRel,
      summary: passed ? `golden check${which} passed on ${count} inputs: ${numbers}`
        : `golden check${which} failed: ${numbers}`,
    };
  }

  /** The step program `name` (a sample program, 'inpaint' or 'colorize'), its graphs opened
   *  and checked. */
  async program(name) {
    const spec = this.meta.programs[name];
    if (!spec) {
      throw new ExportError(`the export has no ${name} program (it has ` +
        `${Object.keys(this.meta.programs).join(', ')}); its sampler ` +
        `'${this.meta.sampler?.name}' does not support it`);
    }
    const step = await this.session(spec.step);
    const finish = spec.finish ? await this.session(spec.finish) : null;
    const program = new Program(this, name, spec, step, finish);
    program.checkGraphs();
    return program;
  }

  /** The export's sample programs (see `samplePrograms`). */
  samplePrograms() {
    return samplePrograms(this.meta);
  }

  /**
   * `numSamples` samples (model space) with the exported sampler, batch after batch.
   * @param {number} numSamples
   * @param {object} [options] see Program.runBatches; `batchSize` (256) samples per batch,
   *   `program` the sample program to loop (default 'sample', the exported sampler; one of
   *   `samplePrograms()`).
   * @returns {Promise<Float32Array>} [numSamples * element size], row-major.
   */
  async sample(numSamples, { program = DEFAULT_PROGRAM, ...options } = {}) {
    positiveInteger(numSamples, 'numSamples');
    const available = this.samplePrograms();
    if (!available.some((p) => p.name === program)) {
      throw new ExportError(`the export has no sample program '${program}'; it has ` +
        `${available.map((p) => `${p.name} (${p.label})`).join(', ')} (\`tfncsn export ` +
        '--extra_samplers` adds more)');
    }
    return (await this.program(program)).runBatches(numSamples, options);
  }

  /**
   * Fills y where mask == 0, keeping it where mask == 1 (Algorithm 2 through the exported
   * inpainting program).
   * @param {Float32Array} y [M * element size], model space (see toModelSpace).
   * @param {Float32Array} mask [element size] (the same for every image) or [M * element
   *   size]; 1 = known.
   */
  async inpaint(y, mask, options = {}) {
    const d = this.elementSize;
    if (!(y instanceof Float32Array) || y.length === 0 || y.length % d) {
      throw new ExportError(`y must be a Float32Array of M x ${d} values (images of shape ` +
        `${fmt(this.elementShape)}), got ${y?.length} values`);
    }
    if (!(mask instanceof Float32Array) || (mask.length !== d && mask.length !== y.length)) {
      throw new ExportError(`mask must be a Float32Array of ${d} values (one ` +
        `${fmt(this.elementShape)} mask for every image) or ${y.length} (one per image), got ` +
        `${mask?.length} values`);
    }
    const program = await this.program('inpaint');
    const full = mask.length === y.length ? mask : tile(mask, y.length / d);
    return program.runBatches(y.length / d, { ...options, inputs: { y, mask: full } });
  }
}

function tile(values, times) {
  const out = new Float32Array(values.length * times);
  for (let i = 0; i < times; i++) out.set(values, i * values.length);
  return out;
}

function positiveInteger(value, name) {
  if (!Number.isInteger(value) || value < 1) {
    throw new ExportError(`${name} must be an integer >= 1, got ${value}`);
  }
}

// ------------------------------------------------------------------------------ step programs

/**
 * One exported step program: loops NAME_step.onnx, then NAME_finish.onnx if there is one.
 * Draws in the exporting sampler's order (docs/export.md): x from the prior, then per step k
 * each noise entry in order, drawn when k % every == 0 and zeros otherwise.
 */
export class Program {
  constructor(exported, name, spec, step, finish) {
    this.exported = exported;
    this.name = name;
    this.spec = spec;
    this.stepSession = step;
    this.finishSession = finish;
    this.numSteps = spec.num_steps;
    this.inputs = spec.inputs ?? [];
  }

  size(per, batch) {
    return per === 'example' ? batch : batch * this.exported.elementSize;
  }

  dims(per, batch) {
    return per === 'example' ? [batch] : [batch, ...this.exported.elementShape];
  }

  /** The graphs' inputs and outputs are those the metadata describes. */
  checkGraphs() {
    const where = `'${this.exported.where}${this.spec.step}'`;
    const expected = { k: [] };
    for (const s of this.spec.state) expected[s.name] = this.dims(s.per, 'N');
    for (const n of this.spec.noise) expected[n.input] = this.dims(n.per, 'N');
    for (const i of this.inputs) expected[i] = this.dims('element', 'N');
    const names = this.stepSession.inputNames;
    const missing = Object.keys(expected).filter((n) => !names.includes(n));
    const outputs = this.spec.state.map((s) => `next_${s.name}`)
      .filter((n) => !this.stepSession.outputNames.includes(n));
    if (missing.length || outputs.length) {
      throw new ExportError(`${where} lacks the ${[...missing, ...outputs].join(', ')} that ` +
        `metadata.json's ${this.name} program names (it has inputs ${names.join(', ')}): the ` +
        'metadata does not belong to this graph; export again');
    }
    for (const meta of this.stepSession.inputMetadata ?? []) {
      const want = expected[meta.name];
      if (!want || !Array.isArray(meta.shape)) continue;
      const fits = meta.shape.length === want.length && meta.shape.every(
        (d, i) => typeof d !== 'number' || typeof want[i] !== 'number' || d === want[i]);
      if (!fits) {
        throw new ExportError(`${where}: input '${meta.name}' has shape ${fmt(meta.shape)}; ` +
          `metadata.json (element_shape ${fmt(this.exported.elementShape)}) needs ` +
          `${fmt(want)}: the metadata does not belong to this graph; export again`);
      }
    }
  }

  tensor(data, per, batch) {
    return new this.exported.ort.Tensor('float32', data, this.dims(per, batch));
  }

  initialState(batch, rng) {
    const prior = this.spec.prior;
    const state = {};
    for (const s of this.spec.state) {
      const count = this.size(s.per, batch);
      let data;
      if (s.name !== 'x') {
        data = new Float32Array(count);
      } else if (prior.kind === 'uniform') {
        data = rng.uniform(count, prior.low, prior.high);
      } else {
        const std = Math.fround(prior.std);
        data = rng.normal(count).map((z) => std * z); // Float32Array: rounded to float32.
      }
      state[s.name] = this.tensor(data, s.per, batch);
    }
    return state;
  }

  noise(k, batch, rng) {
    const feeds = {};
    for (const n of this.spec.noise) {
      const count = this.size(n.per, batch);
      const data = k % n.every ? new Float32Array(count)
        : n.distribution === 'uniform' ? rng.uniform(count, 0, 1) : rng.normal(count);
      feeds[n.input] = this.tensor(data, n.per, batch);
    }
    return feeds;
  }

  /**
   * The samples of one batch.
   * @param {number} batch
   * @param {object} options
   * @param {{normal: Function, uniform: Function}} options.rng the noise source (an Rng).
   * @param {Object<string, Float32Array>} [options.inputs] the program's inputs of this batch
   *   (inpainting: y and mask).
   * @param {AbortSignal} [options.signal] cancels between two steps (rejects with its reason).
   * @param {Function} [options.onStep] awaited after every step with (k, state tensors).
   */
  async run(batch, { rng, inputs = {}, signal, onStep } = {}) {
    const feedsIn = {};
    for (const name of this.inputs) {
      if (!(inputs[name] instanceof Float32Array) || inputs[name].length !==
          this.size('element', batch)) {
        throw new ExportError(`the ${this.name} program needs input '${name}' as a ` +
          `Float32Array of ${this.size('element', batch)} values`);
      }
      feedsIn[name] = this.tensor(inputs[name], 'element', batch);
    }
    signal?.throwIfAborted();
    let state = this.initialState(batch, rng);
    const outputs = this.spec.state.map((s) => `next_${s.name}`);
    for (let k = 0; k < this.numSteps; k++) {
      signal?.throwIfAborted();
      const feeds = { ...state, k: new this.exported.ort.Tensor('int32', Int32Array.of(k), []),
        ...this.noise(k, batch, rng), ...feedsIn };
      const out = await this.stepSession.run(feeds, outputs);
      state = Object.fromEntries(this.spec.state.map((s) => [s.name, out[`next_${s.name}`]]));
      if (onStep) await onStep(k, state);
    }
    signal?.throwIfAborted();
    if (!this.finishSession) return state.x.data;
    return (await this.finishSession.run({ ...state, ...feedsIn }, ['samples'])).samples.data;
  }

  /**
   * `count` samples in batches of `batchSize`.
   * @param {object} options as `run`, and
   * @param {number} [options.batchSize=256]
   * @param {number} [options.seed=0] seeds an Rng when `rng` is not given.
   * @param {Function} [options.onProgress] awaited after every step with {program, step,
   *   numSteps, batch, numBatches, start, count, done, total, sigma, x}: `x` is the batch's
   *   current state (model space) for samples start .. start + count - 1, `sigma` the step's
   *   noise level (for display).
   */
  async runBatches(total, { batchSize = 256, seed = 0, rng, inputs, signal, onProgress } = {}) {
    positiveInteger(batchSize, 'batchSize');
    const source = rng ?? new Rng(seed);
    const d = this.exported.elementSize;
    const out = new Float32Array(total * d);
    const numBatches = Math.ceil(total / batchSize);
    const sigmas = this.spec.step_sigmas ?? [];
    for (let b = 0; b < numBatches; b++) {
      const start = b * batchSize, count = Math.min(batchSize, total - start);
      const slice = inputs && Object.fromEntries(Object.entries(inputs).map(
        ([key, value]) => [key, value.subarray(start * d, (start + count) * d)]));
      const onStep = onProgress && ((k, state) => onProgress({
        program: this.name, step: k, numSteps: this.numSteps, batch: b, numBatches, start,
        count, done: b * this.numSteps + k + 1, total: numBatches * this.numSteps,
        sigma: sigmas[k], x: state.x.data,
      }));
      out.set(await this.run(count, { rng: source, inputs: slice, signal, onStep }), start * d);
    }
    return out;
  }
}

// ------------------------------------------------------------------------------ pixels

/** Model space -> pixels in [0, 1] as the dataset's postprocess does (none, clip,
 *  inverse_logit), in float32. */
export function toPixels(x, meta) {
  const kind = meta.postprocess;
  const lam = meta.logit_lambda; // Required with inverse_logit (checkMetadata).
  const out = Float32Array.from(x);
  if (kind === 'none') return out;
  for (let i = 0; i < out.length; i++) {
    let v = out[i];
    if (kind === 'inverse_logit') v = (1 / (1 + Math.exp(-v)) - lam) / (1 - 2 * lam);
    out[i] = Math.min(1, Math.max(0, v));
  }
  return out;
}

/** Pixels in [0, 1] -> model space (the logit transform when the model was trained in it). */
export function toModelSpace(pixels, meta) {
  const out = Float32Array.from(pixels);
  if (meta.postprocess !== 'inverse_logit') return out;
  const lam = Math.fround(meta.logit_lambda);
  const scale = 1 - 2 * lam;
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.log(lam + scale * out[i]) - Math.log(lam + scale * (1 - out[i]));
  }
  return out;
}
