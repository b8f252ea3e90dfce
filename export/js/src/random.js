// Seeded random draws for the step programs: xoshiro128** with SplitMix32 seeding, and
// Box-Muller for N(0, 1). Every draw is rounded to float32 (a Float32Array holds it).
//
// The generator is fully specified here, so another language can reproduce it:
//   seeding:  s = seed mod 2^32; four times: s += 0x9e3779b9, z = s,
//             z = (z ^ (z >>> 16)) * 0x85ebca6b, z = (z ^ (z >>> 13)) * 0xc2b2ae35,
//             z ^= z >>> 16 (32-bit unsigned arithmetic) -> the state words s0..s3
//   next():   xoshiro128** (Blackman and Vigna 2018): result = rotl(s1 * 5, 7) * 9, then the
//             xoshiro128 state update
//   unit():   (next() + 0.5) / 2^32, uniform on (0, 1), never 0 or 1
//   normal(): Box-Muller from u1 = unit(), u2 = unit(): r = sqrt(-2 ln u1), the pair
//             r cos(2 pi u2), r sin(2 pi u2) (the second one is kept for the next call)
//   uniform(low, high) = low + (high - low) unit()

const TWO_TO_32 = 4294967296;

function splitmix32(seed) {
  let s = seed >>> 0;
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    words[i] = (z ^ (z >>> 16)) >>> 0;
  }
  if (words.every((w) => w === 0)) words[0] = 1; // xoshiro's state must not be all zeros.
  return words;
}

const rotl = (x, k) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** The package's noise source: `normal(count)` and `uniform(count, low, high)` give
 *  Float32Arrays. Any object with these two methods can replace it (for example one that
 *  replays the draws of another implementation). */
export class Rng {
  /** @param {number} seed an integer; only its low 32 bits are used. */
  constructor(seed = 0) {
    if (!Number.isInteger(seed)) throw new TypeError(`seed must be an integer, got ${seed}`);
    this.s = splitmix32(seed);
    this.spare = null;
  }

  /** The next 32-bit unsigned integer (xoshiro128**). */
  next() {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform on the open interval (0, 1), in float64. */
  unit() {
    return (this.next() + 0.5) / TWO_TO_32;
  }

  /** One N(0, 1) draw in float64 (Box-Muller, pairs). */
  gaussian() {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(this.unit()));
    const angle = 2 * Math.PI * this.unit();
    this.spare = r * Math.sin(angle);
    return r * Math.cos(angle);
  }

  /** `count` N(0, 1) draws, rounded to float32. */
  normal(count) {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.gaussian();
    return out;
  }

  /** `count` draws uniform on (low, high), rounded to float32. */
  uniform(count, low = 0, high = 1) {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = low + (high - low) * this.unit();
    return out;
  }
}
