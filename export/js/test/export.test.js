// Sampling, inpainting and the golden check on the toy export of configs/toy.cfg
// (p = 1/5 N((-5,-5), I) + 4/5 N((5,5), I)) that tests/test_js_runtime.py trains and exports.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { isSampleProgram, Rng, samplePrograms, toModelSpace, toPixels } from '../src/index.js';
import { NO_EXPORT, REPLAY, ReplayNoise, open, readFloat32 } from '../testlib/helpers.js';

test('the golden pair passes', { skip: NO_EXPORT }, async () => {
  const result = await (await open()).checkGolden();
  assert.ok(result.passed, result.summary);
  assert.equal(result.count, 20);
  assert.match(result.summary, /^golden check passed on 20 inputs: max abs diff/);
  assert.ok(result.maxAbs < 1e-4);
});

test('the float16 score network passes the golden check with its own tolerance',
  { skip: NO_EXPORT }, async () => {
    const model = await open();
    const graph = model.meta.float16.graph;
    assert.equal(graph, 'model.float16.onnx');
    const result = await model.checkGolden(graph);
    assert.ok(result.passed, result.summary);
    assert.match(result.summary, /^golden check of model\.float16\.onnx passed on 20 inputs/);
    const full = await model.checkGolden();
    assert.ok(result.maxRel > 30 * full.maxRel, `${result.summary} / ${full.summary}`);
    await assert.rejects(model.checkGolden('sample_step.onnx'),
      /'sample_step\.onnx' is not a score network of this export/);
  });

test('a golden score off by more than the tolerance fails the check', { skip: NO_EXPORT },
  async () => {
    const model = await open(undefined, { checkHashes: false });
    const read = model.files.read.bind(model.files);
    model.files.read = async (name) => {
      const bytes = Uint8Array.from(await read(name));
      if (name === 'golden/score.float32.bin') {
        const view = new DataView(bytes.buffer);
        view.setFloat32(4, view.getFloat32(4, true) + 0.01, true);
      }
      return bytes;
    };
    const result = await model.checkGolden();
    assert.equal(result.passed, false);
    assert.match(result.summary, /^golden check failed: max abs diff 0\.01/);
  });

test('samples put 4/5 of their weight on the (5, 5) mode', { skip: NO_EXPORT }, async () => {
  const n = 1000;
  const x = await (await open()).sample(n, { rng: new Rng(0), batchSize: n });
  assert.equal(x.length, 2 * n);
  let big = 0;
  const sums = { big: [0, 0], small: [0, 0] };
  for (let i = 0; i < n; i++) {
    const mode = x[2 * i] + x[2 * i + 1] > 0 ? 'big' : 'small';
    if (mode === 'big') big++;
    sums[mode][0] += x[2 * i];
    sums[mode][1] += x[2 * i + 1];
  }
  const weight = big / n;
  console.log(`weight of the (5, 5) mode: ${weight}`);
  assert.ok(Math.abs(weight - 0.8) <= 0.05, `weight ${weight}`);
  for (const [mode, count, centre] of [['big', big, 5], ['small', n - big, -5]]) {
    for (const s of sums[mode]) assert.ok(Math.abs(s / count - centre) < 0.5, `${mode} mean`);
  }
});

test('inpainting keeps the known coordinate and fills the other from its mode',
  { skip: NO_EXPORT }, async () => {
    const model = await open();
    const m = 200;
    const y = new Float32Array(2 * m);
    for (let i = 0; i < m; i++) y[2 * i] = i % 2 ? 5 : -5;  // x_1 known, x_2 to fill.
    const out = await model.inpaint(y, Float32Array.of(1, 0), { rng: new Rng(1), batchSize: 64 });
    const filled = { 5: 0, '-5': 0 };
    for (let i = 0; i < m; i++) {
      assert.equal(out[2 * i], y[2 * i], 'a known value changed');
      filled[y[2 * i]] += out[2 * i + 1] / (m / 2);
    }
    // p(x_2 | x_1 = +-5) is N(+-5, 1) up to a weight of e^-50 on the other mode.
    assert.ok(Math.abs(filled[5] - 5) < 0.5, `fill given 5: ${filled[5]}`);
    assert.ok(Math.abs(filled[-5] + 5) < 0.5, `fill given -5: ${filled[-5]}`);
  });

test('fed the same draws, the loop follows tfncsn_runtime (batches included)',
  { skip: REPLAY ? false : 'set TFNCSN_TEST_REPLAY (tests/test_js_runtime.py does)' },
  async () => {
    const spec = JSON.parse(await readFile(join(REPLAY, 'replay.json'), 'utf8'));
    const model = await open();
    for (const run of spec.runs) {
      const noise = new ReplayNoise(await readFloat32(join(REPLAY, run.draws)));
      const expected = await readFloat32(join(REPLAY, run.expected));
      const options = { rng: noise, batchSize: run.batch_size };
      const got = isSampleProgram(run.program)
        ? await model.sample(run.count, { ...options, program: run.program })
        : await model.inpaint(await readFloat32(join(REPLAY, run.y)),
          await readFloat32(join(REPLAY, run.mask)), options);
      assert.equal(noise.used, noise.draws.length, `${run.program}: every draw used`);
      assert.equal(got.length, expected.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        const excess = Math.abs(got[i] - expected[i]) - spec.atol - spec.rtol * Math.abs(expected[i]);
        worst = Math.max(worst, excess);
      }
      assert.ok(worst <= 0, `${run.program}: off by ${worst} beyond the tolerance`);
    }
  });

test('progress after every step of every batch, with the state and the level',
  { skip: NO_EXPORT }, async () => {
    const model = await open();
    const program = await model.program('sample');
    const seen = [];
    const x = await model.sample(10, { seed: 3, batchSize: 4, onProgress: (p) => seen.push(
      { ...p, x: p.x.slice() }) });
    assert.equal(x.length, 20);
    assert.ok(x.every(Number.isFinite));
    assert.equal(seen.length, 3 * program.numSteps);
    seen.forEach((p, i) => {
      assert.equal(p.done, i + 1);
      assert.equal(p.total, 3 * program.numSteps);
      assert.equal(p.batch, Math.floor(i / program.numSteps));
      assert.equal(p.step, i % program.numSteps);
      assert.equal(p.sigma, model.meta.programs.sample.step_sigmas[p.step]);
      assert.equal(p.x.length, 2 * p.count);
    });
    assert.deepEqual(seen.map((p) => p.count).filter((c, i) => i % program.numSteps === 0),
      [4, 4, 2]);
    // The last step's state of the last batch is the end of that batch (before denoising).
    assert.equal(seen.at(-1).start, 8);
  });

test('a sample program chosen by name loops its own steps', { skip: NO_EXPORT }, async () => {
  const model = await open();
  const programs = model.samplePrograms();
  assert.deepEqual(programs, samplePrograms(model.meta));
  assert.equal(programs[0].name, 'sample');
  const [other] = programs.filter((p) => p.name !== 'sample');
  const spec = model.meta.programs[other.name];
  assert.deepEqual([other.sampler, other.options, other.numSteps, other.scoreEvaluations],
    [spec.sampler.name, spec.sampler.options, spec.num_steps, spec.score_evaluations]);
  assert.equal(other.label, `${spec.sampler.name}, ${spec.num_steps} steps, ` +
    `${spec.score_evaluations} evaluations`);
  assert.notEqual(other.numSteps, programs[0].numSteps);
  const seen = [];
  const x = await model.sample(5, { program: other.name, seed: 1, batchSize: 5,
    onProgress: (p) => seen.push([p.program, p.step, p.numSteps]) });
  assert.equal(x.length, 10);
  assert.ok(x.every(Number.isFinite));
  assert.deepEqual(seen, Array.from({ length: spec.num_steps },
    (_, k) => [other.name, k, spec.num_steps]));
  await assert.rejects(model.sample(2, { program: 'nope' }),
    /^ExportError: the export has no sample program 'nope'; it has sample \(annealed_langevin, /);
  await assert.rejects(model.sample(2, { program: 'inpaint' }), /no sample program 'inpaint'/);
});

test('an AbortSignal cancels between two steps', { skip: NO_EXPORT }, async () => {
  const model = await open();
  const controller = new AbortController();
  let steps = 0;
  await assert.rejects(model.sample(8, { signal: controller.signal, onProgress: () => {
    steps++;
    if (steps === 5) controller.abort();
  } }), { name: 'AbortError' });
  assert.equal(steps, 5);
  await assert.rejects(model.sample(8, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('pixels to model space and back', () => {
  const meta = { postprocess: 'inverse_logit', logit_lambda: 1e-6 };
  const pixels = Float32Array.of(0, 0.25, 0.5, 1);
  const back = toPixels(toModelSpace(pixels, meta), meta);
  back.forEach((v, i) => assert.ok(Math.abs(v - pixels[i]) < 1e-5));
  assert.deepEqual(toPixels(Float32Array.of(-1, 0.5, 2), { postprocess: 'clip' }),
    Float32Array.of(0, 0.5, 1));
  assert.deepEqual(toPixels(Float32Array.of(-1, 2), { postprocess: 'none' }),
    Float32Array.of(-1, 2));
});
