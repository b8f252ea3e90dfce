// Shared by the tests: the toy export the pytest suite makes (tests/test_js_runtime.py passes
// its directory in TFNCSN_TEST_EXPORT and the Python reader's recorded run in
// TFNCSN_TEST_REPLAY), onnxruntime-node, and a noise source that replays recorded draws.
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as ort from 'onnxruntime-node';

import { loadExport } from '../src/index.js';
import { nodeFiles } from '../src/node.js';

export { ort };
export const EXPORT = process.env.TFNCSN_TEST_EXPORT;
export const REPLAY = process.env.TFNCSN_TEST_REPLAY;
export const NO_EXPORT = EXPORT ? false
  : 'set TFNCSN_TEST_EXPORT to an export of configs/toy.cfg (tests/test_js_runtime.py does)';

// One thread that sleeps between runs: the machine's cores are shared.
export const SESSION_OPTIONS = { intraOpNumThreads: 1, interOpNumThreads: 1,
  extra: { session: { intra_op: { allow_spinning: '0' } } } };

export function open(dir = EXPORT, options = {}) {
  return loadExport({ ort, files: nodeFiles(dir), sessionOptions: SESSION_OPTIONS, ...options });
}

/** A copy of the test export in a new temporary directory, to break. */
export async function copyExport() {
  const dir = await mkdtemp(join(tmpdir(), 'tfncsn-js-'));
  await cp(EXPORT, dir, { recursive: true });
  return dir;
}

export async function editMetadata(dir, edit) {
  const path = join(dir, 'metadata.json');
  const meta = JSON.parse(await readFile(path, 'utf8'));
  edit(meta);
  await writeFile(path, JSON.stringify(meta));
}

export async function readFloat32(path) {
  const bytes = await readFile(path);
  const out = new Float32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** Hands out recorded draws in order, whatever distribution is asked for. */
export class ReplayNoise {
  constructor(draws) {
    this.draws = draws;
    this.used = 0;
  }

  take(count) {
    if (this.used + count > this.draws.length) throw new Error('ran out of recorded draws');
    const out = this.draws.slice(this.used, this.used + count);
    this.used += count;
    return out;
  }

  normal(count) { return this.take(count); }

  uniform(count) { return this.take(count); }
}
