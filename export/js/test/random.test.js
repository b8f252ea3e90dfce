// The seeded generator: reproducible, independent streams per seed, the right moments.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../src/index.js';

test('the same seed gives the same draws, another seed others', () => {
  assert.deepEqual(new Rng(7).normal(100), new Rng(7).normal(100));
  assert.notDeepEqual(new Rng(7).normal(100), new Rng(8).normal(100));
  assert.throws(() => new Rng(0.5), /seed must be an integer/);
});

test('normal draws have mean 0, variance 1, and normal tails', () => {
  const n = 200000;
  const z = new Rng(1).normal(n);
  assert.ok(z instanceof Float32Array);
  let sum = 0, sq = 0, beyond2 = 0;
  for (const v of z) {
    sum += v;
    sq += v * v;
    if (Math.abs(v) > 2) beyond2++;
  }
  const mean = sum / n, variance = sq / n - mean * mean;
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);           // 5 standard errors
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
  assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.003, `P(|z| > 2) = ${beyond2 / n}`);
});

test('uniform draws fill (low, high) evenly', () => {
  const n = 100000;
  const u = new Rng(2).uniform(n, -8, 8);
  const bins = new Array(16).fill(0);
  for (const v of u) {
    assert.ok(v > -8 && v < 8);
    bins[Math.floor(v + 8)]++;
  }
  const chi2 = bins.reduce((s, c) => s + (c - n / 16) ** 2 / (n / 16), 0);
  assert.ok(chi2 < 40, `chi^2 ${chi2} over 15 degrees of freedom`); // p < 1e-3 beyond 37.7
});
