// A wrong export fails with one clear message naming the file and the fix.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { ExportError, fetchFiles, loadExport } from '../src/index.js';
import { NO_EXPORT, copyExport, editMetadata, open, ort } from '../testlib/helpers.js';

async function rejects(promise, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof ExportError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('a directory without metadata.json', { skip: NO_EXPORT }, async () => {
  const dir = await copyExport();
  await rm(join(dir, 'metadata.json'));
  await rejects(open(dir), /metadata\.json' is missing from the export; give the directory/);
});

test('metadata that is not JSON, or of another format, or without the keys',
  { skip: NO_EXPORT }, async () => {
    const dir = await copyExport();
    await writeFile(join(dir, 'metadata.json'), '{"format": ');
    await rejects(open(dir), /metadata\.json' is not JSON .*export again/);
    await writeFile(join(dir, 'metadata.json'), '{"format": "tfncsn.score/2"}');
    await rejects(open(dir), /lacks the tfncsn metadata element_shape, sigmas, sampler/);
    const original = await readFile(join(await copyExport(), 'metadata.json'), 'utf8');
    await writeFile(join(dir, 'metadata.json'), original);
    await editMetadata(dir, (meta) => { meta.format = 'tfncsn.score/1'; });
    await rejects(open(dir), /has format 'tfncsn\.score\/1'; this package reads 'tfncsn\.score\/2'/);
    await writeFile(join(dir, 'metadata.json'), original);
    await editMetadata(dir, (meta) => { meta.sigmas = [1, 2]; });
    await rejects(open(dir), /sigmas must be positive and strictly decreasing/);
    await writeFile(join(dir, 'metadata.json'), original);
    await editMetadata(dir, (meta) => {
      meta.postprocess = 'inverse_logit';
      delete meta.logit_lambda;
    });
    await rejects(open(dir), /lacks the tfncsn metadata logit_lambda;/);
  });

test('a missing or truncated step graph', { skip: NO_EXPORT }, async () => {
  const dir = await copyExport();
  const step = join(dir, 'sample_step.onnx');
  const bytes = await readFile(step);
  await rm(step);
  const model = await open(dir);
  await rejects(model.sample(4), /sample_step\.onnx' is missing from the export/);
  await writeFile(step, bytes.subarray(0, 1000));
  await rejects(model.sample(4), /sample_step\.onnx' has 1000 bytes; metadata\.json says \d+/);
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 1] ^= 0xff;
  await writeFile(step, flipped);
  await rejects(model.sample(4), /sample_step\.onnx' does not match the sha256/);
  await editMetadata(dir, (meta) => { delete meta.files['sample_step.onnx']; });
  await writeFile(step, 'not an onnx model');
  await rejects((await open(dir)).sample(4), /cannot load '.*sample_step\.onnx' as an ONNX model/);
});

test('metadata whose shapes do not fit the graphs and the golden files',
  { skip: NO_EXPORT }, async () => {
    const dir = await copyExport();
    await editMetadata(dir, (meta) => { meta.element_shape = [3]; });
    const model = await open(dir);
    await rejects(model.checkGolden(), /golden pair has shapes x \[20, 2\].*element_shape \[3\]/);
    await rejects(model.sample(4), /input 'x' has shape \[N, 2\]; metadata\.json \(element_shape \[3\]\) needs \[N, 3\]/);
    const other = await copyExport();
    await editMetadata(other, (meta) => { meta.programs.sample.noise[0].input = 'noise_w'; });
    await rejects((await open(other)).sample(4), /lacks the noise_w that metadata\.json's sample program names/);
    const golden = await copyExport();
    await editMetadata(golden, (meta) => { meta.golden.x.shape = [10, 2]; delete meta.files; });
    await rejects((await open(golden)).checkGolden(), /x\.float32\.bin' has 160 bytes; its shape \[10, 2\] \(float32\) needs 80/);
  });

test('bad arguments', { skip: NO_EXPORT }, async () => {
  const model = await open();
  await rejects(model.sample(0), /numSamples must be an integer >= 1, got 0/);
  await rejects(model.sample(2, { batchSize: 0 }), /batchSize must be an integer >= 1/);
  await rejects(model.inpaint(new Float32Array(4), new Float32Array(3)), /mask must be a Float32Array of 2 values/);
  await rejects(model.score(new Float32Array(4), Int32Array.of(0, 10)), /level must hold integers in \[0, 10\), got 10/);
  await rejects(loadExport({ files: null }), /needs the ort module/);
});

test('fetchFiles reports a missing file by its URL', async () => {
  const fake = async () => ({ ok: false, status: 404 });
  await rejects(loadExport({ ort, files: fetchFiles('http://127.0.0.1:1/e', fake) }),
    /'http:\/\/127\.0\.0\.1:1\/e\/metadata\.json' is missing from the export \(HTTP 404\)/);
});
