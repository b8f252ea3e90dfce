/* The JavaScript runtime's generator (export/js/src/random.js, where it is specified to the
 * bit): xoshiro128** seeded by SplitMix32, uniforms (next() + 0.5) / 2^32, Box-Muller pairs,
 * every draw rounded to float32. The same seed draws the same numbers here and there. */
#ifndef TFNCSN_RANDOM_H
#define TFNCSN_RANDOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t s[4];
  int has_spare;
  double spare;
} Rng;

/* Seeds with a 32-bit seed (the JavaScript runtime's `seed >>> 0`). */
void rng_seed(Rng *rng, uint32_t seed);

/* `count` N(0, 1) draws. */
void fill_normal(Rng *rng, float *out, size_t count);

/* `count` draws uniform on (low, high): low + (high - low) unit, rounded to float32. */
void fill_uniform(Rng *rng, float *out, size_t count, double low, double high);

#endif
