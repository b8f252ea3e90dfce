// Wall time of sampling an export in Node (onnxruntime-node) or in the page (headless Chromium,
// onnxruntime-web wasm), as docs/results.md#runtime-wall-time reports it:
//   node tools/time-sampling.mjs --export=DIR --n=64 [--program=sample_ode_19]
//   node tools/time-sampling.mjs --page='http://127.0.0.1:8000/export/js/web/?export=/E/' --n=16
//       [--program=NAME] [--screenshot=page.png]
// Time from the first step to the last sample, one batch of n, seed 0, the golden check and
// session creation excluded. --program picks one of the export's sample programs (default
// 'sample'; --program=list prints them); the page's default is its own choice.
import * as ort from 'onnxruntime-node';

import { DEFAULT_PROGRAM, loadExport, Rng } from '../src/index.js';
import { nodeFiles } from '../src/node.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split(/=(.*)/s)));
const n = Number(args.n ?? 64);

if (args.page) {
  const { launch, waitForState } = await import('../testlib/browser.js');
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const url = new URL(args.page);
  url.searchParams.set('n', n);
  url.searchParams.set('batch', n);
  if (args.program) url.searchParams.set('program', args.program);
  await page.goto(url.href);
  const state = await waitForState(page, ['done'], 3600000);
  if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
  await browser.close();
  if (state.state !== 'done') throw new Error(`the page ended in ${state.state}: ${state.error}`);
  console.log(`browser (wasm): ${n} samples with ${state.program} in ` +
    `${state.timings.sample.toFixed(2)} s; ${state.golden.summary}`);
} else {
  const model = await loadExport({ ort, files: nodeFiles(args.export), sessionOptions:
    { extra: { session: { intra_op: { allow_spinning: '0' } } } } });
  const programs = model.samplePrograms();
  if (args.program === 'list') {
    for (const p of programs) console.log(`${p.name}: ${p.label}`);
    process.exit(0);
  }
  const program = args.program ?? DEFAULT_PROGRAM;
  const chosen = programs.find((p) => p.name === program);
  if (!chosen) {
    console.error(`time-sampling: error: --program=${program}: the export has ` +
      `${programs.map((p) => p.name).join(', ')}`);
    process.exit(2);
  }
  console.log((await model.checkGolden()).summary);
  await model.program(program); // Opens the sessions before the clock starts.
  const started = performance.now();
  await model.sample(n, { rng: new Rng(0), batchSize: n, program });
  console.log(`node: ${n} samples with ${program} (${chosen.label}) in ` +
    `${((performance.now() - started) / 1000).toFixed(2)} s`);
}
