/* The JavaScript runtime's generator in C (random.h). */
#include "random.h"

#include <math.h>

static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

void rng_seed(Rng *rng, uint32_t seed) {
  uint32_t s = seed;
  for (int i = 0; i < 4; i++) {
    s += 0x9e3779b9u;
    uint32_t z = s;
    z = (z ^ (z >> 16)) * 0x85ebca6bu;
    z = (z ^ (z >> 13)) * 0xc2b2ae35u;
    rng->s[i] = z ^ (z >> 16);
  }
  if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
  rng->has_spare = 0;
}

static uint32_t rng_next(Rng *rng) {
  uint32_t *s = rng->s;
  const uint32_t result = rotl(s[1] * 5u, 7) * 9u, t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return result;
}

/* Uniform on the open interval (0, 1). */
static double rng_unit(Rng *rng) { return ((double)rng_next(rng) + 0.5) / 4294967296.0; }

/* N(0, 1) by Box-Muller; the pair's second value is kept for the next call. */
static double rng_gaussian(Rng *rng) {
  if (rng->has_spare) {
    rng->has_spare = 0;
    return rng->spare;
  }
  const double pi = 3.14159265358979323846;
  const double r = sqrt(-2.0 * log(rng_unit(rng))), angle = 2.0 * pi * rng_unit(rng);
  rng->spare = r * sin(angle);
  rng->has_spare = 1;
  return r * cos(angle);
}

void fill_normal(Rng *rng, float *out, size_t count) {
  for (size_t i = 0; i < count; i++) out[i] = (float)rng_gaussian(rng);
}

void fill_uniform(Rng *rng, float *out, size_t count, double low, double high) {
  for (size_t i = 0; i < count; i++) out[i] = (float)(low + (high - low) * rng_unit(rng));
}
