// js/web/ in headless Chromium (tests/test_browser_page.py serves the page and an image
// export and passes the page's URL): the golden check passes, samples of the default program
// appear level by level on the canvas, another program chosen in the select runs its own
// steps, and a mask painted with the mouse is inpainted with its known pixels kept.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { inkOf, launch, waitForState } from '../testlib/browser.js';

const URL = process.env.TFNCSN_PAGE_URL;
const SHOTS = process.env.TFNCSN_SCREENSHOTS;
// The program the page should choose by itself, and another one the test chooses.
const { TFNCSN_PAGE_DEFAULT_PROGRAM: FIRST, TFNCSN_PAGE_OTHER_PROGRAM: OTHER } = process.env;
const skip = URL && FIRST && OTHER ? false
  : 'set TFNCSN_PAGE_URL, TFNCSN_PAGE_DEFAULT_PROGRAM and TFNCSN_PAGE_OTHER_PROGRAM ' +
    '(tests/test_browser_page.py does)';
let browser, page;
const messages = [];

before(async () => {
  if (skip) return;
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
  await page.goto(URL);
});

after(async () => browser?.close());

test('the page checks the golden pair and draws the samples level by level', { skip },
  async () => {
    const state = await waitForState(page, ['done']);
    assert.equal(state.state, 'done', `${state.error} ${messages.join('\n')}`);
    assert.equal(state.golden.passed, true, state.golden.summary);
    assert.equal(state.program, FIRST);
    assert.equal(await page.inputValue('#program'), FIRST);
    const labels = await page.$$eval('#program option', (options) => options.map(
      (o) => [o.value, o.textContent]));
    assert.deepEqual(labels, state.programs.map((p) => [p.name, p.label]));
    assert.ok(labels.every(([, label]) => /^\w+, \d+ steps, \d+ evaluations$/.test(label)),
      JSON.stringify(labels));
    assert.ok(state.frames.every((f) => f.program === FIRST), JSON.stringify(state.frames));
    assert.match(await page.textContent('#golden'), /^golden check passed on \d+ inputs/);
    const levels = await page.evaluate(() => new Set(
      window.tfncsn.frames.map((f) => f.sigma)).size);
    const meta = await page.evaluate(() => window.tfncsn.levels);
    assert.ok(levels >= meta, `drawn at ${levels} levels of ${meta}`);
    const ink = await inkOf(page, '#samples');
    console.log(`samples canvas: ${(100 * ink.share).toFixed(1)} % ink, ${ink.levels} colours`);
    assert.ok(ink.share > 0.2 && ink.levels > 20, JSON.stringify(ink));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'page-samples.png'), fullPage: true });
  });

test('another program chosen in the select samples with its own steps', { skip }, async () => {
  await page.selectOption('#program', OTHER);
  await page.click('#sample-button');
  await page.waitForFunction((name) => window.tfncsn.program === name &&
    ['done', 'error', 'cancelled'].includes(window.tfncsn.state), OTHER,
  { timeout: 300000, polling: 100 });
  const state = await page.evaluate(() => ({ ...window.tfncsn, samples: null }));
  assert.equal(state.state, 'done', `${state.error} ${messages.join('\n')}`);
  const { numSteps } = state.programs.find((p) => p.name === OTHER);
  const first = state.programs.find((p) => p.name === FIRST);
  assert.notEqual(numSteps, first.numSteps, 'choose programs of different lengths');
  assert.ok(state.frames.length > 0 && state.frames.every((f) => f.program === OTHER),
    JSON.stringify(state.frames));
  assert.equal(Math.max(...state.frames.map((f) => f.step)), numSteps - 1);
  assert.match(await page.textContent('#progress'), new RegExp(`^16 samples with ${OTHER} in`));
  assert.ok((await inkOf(page, '#samples')).share > 0.2);
});

test('a painted mask is inpainted and the known pixels stay', { skip }, async () => {
  const canvas = page.locator('#mask-canvas');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.5, { steps: 8 });
  await page.mouse.up();
  await page.click('#inpaint-button');
  const state = await waitForState(page, ['inpainted', 'needs-mask']);
  assert.equal(state.state, 'inpainted', `${state.error} ${messages.join('\n')}`);
  const { y, mask, out } = state.lastInpaint;
  const filled = mask.filter((m) => m === 0).length;
  assert.ok(filled > 0 && filled < mask.length / 2, `${filled} of ${mask.length} to fill`);
  let changed = 0;
  out.forEach((v, i) => {
    if (mask[i % mask.length] === 1) assert.equal(v, y[i], `known value ${i} changed`);
    else if (v !== y[i]) changed++;
  });
  assert.ok(changed > 0.9 * (y.length / mask.length) * filled, `${changed} filled values changed`);
  const ink = await inkOf(page, '#completions');
  assert.ok(ink.share > 0.2, JSON.stringify(ink));
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'page-inpainted.png'), fullPage: true });
});
