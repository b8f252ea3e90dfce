// The page: loads an export (?export=URL of its directory), checks the golden pair, samples
// with one of the export's sample programs (chosen in a select: ?program=NAME, or the one
// nearest to about 20 score evaluations) and draws the samples level by level, and inpaints a
// sample inside a mask painted with the mouse. ONNX Runtime Web's wasm backend, served from
// js/node_modules (no CDN). State for scripts and tests: window.tfncsn and the data-state /
// data-passed attributes of #status and #golden.
import * as ort from '../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

import { fetchFiles, loadExport, Rng, toModelSpace, toPixels } from '../src/index.js';

ort.env.wasm.wasmPaths = new URL('../node_modules/onnxruntime-web/dist/', import.meta.url).href;
// Threads need a cross-origin isolated page (COOP/COEP headers); a plain static server has none.
ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? navigator.hardwareConcurrency : 1;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const page = { state: 'idle', golden: null, error: null, samples: null, lastInpaint: null,
  timings: {}, frames: [], levels: 0, program: null, programs: [] };
window.tfncsn = page;

let model = null;
let controller = null;
let picked = 0;          // The sample that inpainting starts from.
let known = null;        // Float32Array [H * W]: 1 = known, 0 = to fill.
// The page's first choice of sample program: the one with the fewest score evaluations among
// those with at least this many (about 20: ode's Heun on ten levels makes 19), else 'sample'.
const MIN_EVALUATIONS = 18;

function setState(state, text) {
  page.state = state;
  $('status').dataset.state = state;
  if (text !== undefined) $('status').textContent = text;
}

function fail(error) {
  page.error = error.message ?? String(error);
  setState(error.name === 'AbortError' ? 'cancelled' : 'error',
    error.name === 'AbortError' ? 'stopped' : `error: ${page.error}`);
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

// ------------------------------------------------------------------------------ drawing

function isImage(shape) {
  return shape.length === 3 && (shape[2] === 1 || shape[2] === 3);
}

/** Pixels [count * H * W * C] in [0, 1] (NaN: nothing yet) as a grid on `canvas`. */
function drawGrid(canvas, pixels, count, shape, columns = Math.ceil(Math.sqrt(count))) {
  const [h, w, c] = shape;
  const rows = Math.ceil(count / columns), gap = 1;
  const gw = columns * (w + gap) + gap, gh = rows * (h + gap) + gap;
  const image = new ImageData(gw, gh);
  image.data.fill(255);
  for (let n = 0; n < count; n++) {
    const top = gap + Math.floor(n / columns) * (h + gap), left = gap + (n % columns) * (w + gap);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const src = ((n * h + i) * w + j) * c, dst = 4 * ((top + i) * gw + left + j);
        for (let k = 0; k < 3; k++) {
          const v = pixels[src + (c === 3 ? k : 0)];
          image.data[dst + k] = Number.isNaN(v) ? 200 : Math.round(255 * Math.min(1, Math.max(0, v)));
        }
      }
    }
  }
  const off = new OffscreenCanvas(gw, gh);
  off.getContext('2d').putImageData(image, 0, 0);
  const scale = Math.max(1, Math.floor(Math.min(480 / gw, 480 / gh)));
  canvas.width = gw * scale;
  canvas.height = gh * scale;
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  canvas.dataset.columns = columns;
  canvas.dataset.cell = (w + gap) * scale;
}

/** 2-D points [count * 2] as dots over the square box = [low, high]. */
function drawScatter(canvas, points, count, [low, high]) {
  canvas.width = canvas.height = 480;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, 480, 480);
  ctx.strokeStyle = '#999';
  ctx.strokeRect(0.5, 0.5, 479, 479);
  ctx.fillStyle = '#1a237e';
  const scale = 479 / (high - low);
  for (let n = 0; n < count; n++) {
    const x = points[2 * n], y = points[2 * n + 1];
    if (Number.isNaN(x)) continue;
    ctx.fillRect((x - low) * scale - 1.5, 479 - (y - low) * scale - 1.5, 3, 3);
  }
}

function drawSamples(values, count) {
  const shape = model.elementShape;
  if (isImage(shape)) {
    const pixels = toPixels(values, model.meta).map((v, i) => (Number.isNaN(values[i]) ? NaN : v));
    drawGrid($('samples'), pixels, count, shape);
  } else if (shape.length === 1 && shape[0] === 2) {
    drawScatter($('samples'), values, count, model.meta.prior_range);
  }
}

/** A callback for Program.runBatches that redraws at every new noise level (or every
 *  twentieth of the steps when the program has no levels). */
function levelDrawer(display, draw) {
  let lastSigma = null;
  return async (p) => {
    const newLevel = p.sigma !== undefined ? p.sigma !== lastSigma
      : p.step % Math.max(1, Math.round(p.numSteps / 20)) === 0;
    lastSigma = p.sigma;
    if (!newLevel && p.step !== p.numSteps - 1) return;
    display.set(p.x, p.start * model.elementSize);
    draw(p);
    page.frames.push({ program: p.program, batch: p.batch, step: p.step, sigma: p.sigma });
    $('progress').textContent = `${p.program}: batch ${p.batch + 1}/${p.numBatches}, step ` +
      `${p.step + 1}/${p.numSteps}` + (p.sigma !== undefined ? `, sigma ${p.sigma.toPrecision(3)}` : '');
    await nextFrame();
  };
}

// ------------------------------------------------------------------------------ the export

async function load(url) {
  setState('loading', `loading ${url}`);
  $('sampling').hidden = $('inpainting').hidden = true;
  if (model) await model.close();
  model = await loadExport({ ort, files: fetchFiles(url),
    sessionOptions: { executionProviders: ['wasm'] } });
  const meta = model.meta;
  page.programs = model.samplePrograms();
  $('model-info').textContent = `${meta.dataset} / ${meta.model}, step ${meta.training_step}; ` +
    `${page.programs.length} sample program(s), sampler ${meta.sampler.name} by default; ` +
    `element shape [${meta.element_shape.join(', ')}]`;
  fillProgramSelect(page.programs, params.get('program'));
  setState('checking', 'checking the golden pair');
  const golden = await model.checkGolden();
  page.golden = golden;
  $('golden').dataset.passed = String(golden.passed);
  $('golden').textContent = golden.summary;
  const image = isImage(model.elementShape);
  $('num-samples').value = params.get('n') ?? (image ? 16 : 256);
  $('batch-size').value = params.get('batch') ?? (image ? 16 : 256);
  $('seed').value = params.get('seed') ?? 0;
  $('sampling').hidden = false;
  $('inpainting').hidden = !(image && meta.programs.inpaint);
  known = new Float32Array(model.elementShape[0] * model.elementShape[1]).fill(1);
  setState('loaded', 'loaded');
}

/** The select's options, one per sample program ("ode, 9 steps, 19 evaluations"), with
 *  `wanted` (the URL's ?program=) or the page's default chosen. */
function fillProgramSelect(programs, wanted) {
  const select = $('program');
  select.replaceChildren(...programs.map((p) => new Option(p.label, p.name)));
  if (wanted && !programs.some((p) => p.name === wanted)) {
    throw new Error(`the export has no sample program '${wanted}' (?program=); it has ` +
      programs.map((p) => p.name).join(', '));
  }
  select.value = wanted ?? defaultProgram(programs);
}

function defaultProgram(programs) {
  const enough = programs.filter((p) => p.scoreEvaluations >= MIN_EVALUATIONS)
    .sort((a, b) => a.scoreEvaluations - b.scoreEvaluations);
  return (enough[0] ?? programs[0]).name;
}

async function sample() {
  const n = Number($('num-samples').value), seed = Number($('seed').value);
  const batchSize = Number($('batch-size').value);
  const program = $('program').value;
  page.program = program;
  page.frames = [];
  page.levels = new Set(model.meta.programs[program].step_sigmas ?? []).size;
  controller = new AbortController();
  busy(true);
  setState('sampling', `sampling ${n} with ${program}`);
  const display = new Float32Array(n * model.elementSize).fill(NaN);
  const started = performance.now();
  try {
    const out = await model.sample(n, { program, rng: new Rng(seed), batchSize,
      signal: controller.signal, onProgress: levelDrawer(display, () => drawSamples(display, n)) });
    page.timings.sample = (performance.now() - started) / 1000;
    page.samples = out;
    drawSamples(out, n);
    picked = 0;
    drawMaskCanvas();
    $('progress').textContent = `${n} samples with ${program} in ` +
      `${page.timings.sample.toFixed(1)} s`;
    setState('done', 'done');
  } catch (e) {
    fail(e);
  } finally {
    busy(false);
  }
}

function busy(on) {
  $('sample-button').disabled = on;
  $('program').disabled = on;
  $('inpaint-button').disabled = on || !page.samples;
  $('stop-button').disabled = !on;
}

// ------------------------------------------------------------------------------ inpainting

/** The picked sample's pixels [H * W * C]. */
function pickedPixels() {
  const d = model.elementSize;
  return toPixels(page.samples.subarray(picked * d, (picked + 1) * d), model.meta);
}

function elementMask() {
  const c = model.elementShape[2];
  const mask = new Float32Array(model.elementSize);
  for (let i = 0; i < mask.length; i++) mask[i] = known[Math.floor(i / c)];
  return mask;
}

function drawMaskCanvas() {
  if ($('inpainting').hidden || !page.samples) return;
  const [h, w, c] = model.elementShape;
  const pixels = pickedPixels();
  const canvas = $('mask-canvas');
  const ctx = canvas.getContext('2d');
  const sx = canvas.width / w, sy = canvas.height / h;
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const rgb = [0, 1, 2].map((k) => Math.round(255 * pixels[(i * w + j) * c + (c === 3 ? k : 0)]));
      ctx.fillStyle = `rgb(${rgb.join(',')})`;
      ctx.fillRect(j * sx, i * sy, sx, sy);
      if (!known[i * w + j]) {
        ctx.fillStyle = 'rgba(229, 57, 53, 0.6)';
        ctx.fillRect(j * sx, i * sy, sx, sy);
      }
    }
  }
}

function paintAt(event) {
  const canvas = $('mask-canvas');
  const [h, w] = model.elementShape;
  const rect = canvas.getBoundingClientRect();
  const j = Math.floor(((event.clientX - rect.left) / rect.width) * w);
  const i = Math.floor(((event.clientY - rect.top) / rect.height) * h);
  const r = Number($('brush').value) / 2;
  for (let a = Math.floor(i - r); a <= i + r; a++) {
    for (let b = Math.floor(j - r); b <= j + r; b++) {
      if (a >= 0 && a < h && b >= 0 && b < w && (a - i) ** 2 + (b - j) ** 2 <= r * r + 0.5) {
        known[a * w + b] = 0;
      }
    }
  }
  drawMaskCanvas();
}

async function inpaint() {
  const m = Number($('num-completions').value);
  const mask = elementMask();
  if (mask.every((v) => v === 1)) {
    setState('needs-mask', 'paint the region to fill on the image first');
    return;
  }
  const d = model.elementSize;
  const y = new Float32Array(m * d);
  const source = toModelSpace(pickedPixels(), model.meta);
  for (let n = 0; n < m; n++) y.set(source, n * d);
  controller = new AbortController();
  busy(true);
  setState('inpainting', `inpainting ${m} completions`);
  // Row: the masked image, then the completions.
  const shown = new Float32Array((m + 1) * d).fill(NaN);
  const masked = pickedPixels().map((v, i) => (mask[i] ? v : 0.5));
  shown.set(masked, 0);
  const draw = () => {
    const pixels = toPixels(shown.subarray(d), model.meta).map(
      (v, i) => (Number.isNaN(shown[d + i]) ? NaN : v));
    const all = new Float32Array((m + 1) * d);
    all.set(masked, 0);
    all.set(pixels, d);
    drawGrid($('completions'), all, m + 1, model.elementShape, m + 1);
  };
  const display = shown.subarray(d);
  const started = performance.now();
  try {
    const out = await model.inpaint(y, mask, { rng: new Rng(Number($('seed').value) + 1),
      batchSize: m, signal: controller.signal, onProgress: levelDrawer(display, draw) });
    page.timings.inpaint = (performance.now() - started) / 1000;
    display.set(out);
    draw();
    page.lastInpaint = { y: Array.from(y), mask: Array.from(mask), out: Array.from(out) };
    $('progress').textContent = `${m} completions in ${page.timings.inpaint.toFixed(1)} s`;
    setState('inpainted', 'inpainted');
  } catch (e) {
    fail(e);
  } finally {
    busy(false);
  }
}

// ------------------------------------------------------------------------------ wiring

$('load-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const url = new URL(location.href);
  url.searchParams.set('export', $('export-url').value);
  location.href = url.href;
});
$('sample-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sample();
});
$('stop-button').addEventListener('click', () => controller?.abort());
$('samples').addEventListener('click', (event) => {
  const canvas = $('samples');
  if (!page.samples || !canvas.dataset.cell) return;
  const rect = canvas.getBoundingClientRect();
  const cell = Number(canvas.dataset.cell) * (rect.width / canvas.width);
  const index = Math.floor((event.clientY - rect.top) / cell) * Number(canvas.dataset.columns) +
    Math.floor((event.clientX - rect.left) / cell);
  if (index < page.samples.length / model.elementSize) {
    picked = index;
    drawMaskCanvas();
  }
});
let painting = false;
$('mask-canvas').addEventListener('pointerdown', (event) => {
  if (!page.samples) return;
  painting = true;
  paintAt(event);
});
$('mask-canvas').addEventListener('pointermove', (event) => painting && paintAt(event));
window.addEventListener('pointerup', () => { painting = false; });
$('clear-mask').addEventListener('click', () => {
  known?.fill(1);
  drawMaskCanvas();
});
$('inpaint-button').addEventListener('click', inpaint);

const exportUrl = params.get('export');
if (exportUrl) {
  $('export-url').value = exportUrl;
  load(exportUrl).then(() => (params.get('autostart') === '0' ? null : sample())).catch(fail);
}
