/* Samples from a `tfncsn export` with the ONNX Runtime C API alone: loops the step graph of
 * one of its sample programs (then its finish graph) exactly as docs/export.md's loop says,
 *
 *     x = the prior (uniform on [low, high] or std * N(0, 1)), other state = zeros
 *     for k in 0 .. num_steps - 1:
 *         each noise entry in order: N(0, 1) or U(0, 1) draws when k % every == 0, else zeros
 *         state = step(state..., k, noise...)
 *     samples = finish(state...) when the program has a finish graph, else x
 *
 * and writes the samples as float32. The program's description comes from
 * EXPORT_DIR/PROGRAM.program.txt, one `key value...` per line (docs/export.md, "The program
 * as text"), so no JSON library is needed. Random numbers: the JavaScript runtime's generator
 * (export/js/src/random.js: xoshiro128** seeded by SplitMix32, Box-Muller pairs, every draw
 * rounded to float32), so a seed gives the same draws here and there.
 *
 *     sample [--x0=FILE] [--threads=N] EXPORT_DIR PROGRAM NUM_SAMPLES SEED OUT
 *
 * One batch of NUM_SAMPLES. OUT ending in .npy is a NumPy file, anything else raw
 * little-endian float32, [NUM_SAMPLES, *element_shape] in model space. --x0 starts from the x
 * in FILE (raw little-endian float32, the same shape) instead of the prior, drawing nothing
 * for it. Exit 0: written; 2: bad arguments or an export this cannot use (one line on stderr).
 */
#define _POSIX_C_SOURCE 200809L /* opendir: the programs an export has, for the error. */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_io.h"
#include "onnxruntime_c_api.h"

#define TEXT_FORMAT "tfncsn.program/1"
#define TEXT_SUFFIX ".program.txt"
#define MAX_ENTRIES 16  /* State and noise entries of one program. */
#define MAX_RANK 8
#define NAME_SIZE 256
#define FEED_LIMIT_BYTES ((size_t)1 << 30) /* The per-step feed, as tfncsn_runtime's. */

static const char USAGE[] =
    "usage: sample [--x0=FILE] [--threads=N] EXPORT_DIR PROGRAM NUM_SAMPLES SEED OUT";

/* ------------------------------------------------------------------------ the generator */

/* xoshiro128** seeded by SplitMix32, as export/js/src/random.js specifies it. */
typedef struct {
  uint32_t s[4];
  int has_spare;
  double spare;
} Rng;

static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

static void rng_seed(Rng *rng, uint32_t seed) {
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

static void fill_normal(Rng *rng, float *out, size_t count) {
  for (size_t i = 0; i < count; i++) out[i] = (float)rng_gaussian(rng);
}

static void fill_uniform(Rng *rng, float *out, size_t count, double low, double high) {
  for (size_t i = 0; i < count; i++) out[i] = (float)(low + (high - low) * rng_unit(rng));
}

/* ------------------------------------------------------------------------ the program */

typedef struct {
  char name[NAME_SIZE];
  int per_example; /* 1: shape [N]; 0: [N, *element_shape]. */
} State;

typedef struct {
  char name[NAME_SIZE], input[NAME_SIZE];
  int uniform; /* 1: U(0, 1); 0: N(0, 1). */
  int per_example;
  long every;
} Noise;

typedef struct {
  char path[4200]; /* The text file, for errors. */
  char sampler[NAME_SIZE], step[NAME_SIZE], finish[NAME_SIZE], inputs[4 * NAME_SIZE];
  long num_steps, score_evaluations;
  int64_t shape[MAX_RANK];
  size_t rank;
  int has_prior, prior_uniform;
  double prior_a, prior_b; /* low, high or mean, std. */
  State state[MAX_ENTRIES];
  size_t num_state;
  Noise noise[MAX_ENTRIES];
  size_t num_noise;
} Program;

/* Stops naming the text file and its line. */
static void bad_line(const Program *p, int line, const char *what) {
  char detail[4400];
  snprintf(detail, sizeof detail, "'%s' line %d: %s; export again with this tfncsn", p->path,
           line, what);
  die("cannot read the program", detail);
}

/* The next space-separated word of the line (strtok's state), required. */
static const char *word(const Program *p, int line, const char *key) {
  const char *w = strtok(NULL, " \r\n");
  if (!w) {
    char what[NAME_SIZE + 40];
    snprintf(what, sizeof what, "'%s' lacks a value", key);
    bad_line(p, line, what);
  }
  if (strlen(w) >= NAME_SIZE) bad_line(p, line, "a value is too long");
  return w;
}

static long whole_number(const Program *p, int line, const char *text, long low) {
  char *end;
  errno = 0;
  const long value = strtol(text, &end, 10);
  if (errno || *end || end == text || value < low) bad_line(p, line, "not a whole number");
  return value;
}

static double real_number(const Program *p, int line, const char *text) {
  char *end;
  const double value = strtod(text, &end);
  if (*end || end == text || !isfinite(value)) bad_line(p, line, "not a number");
  return value;
}

static int per_example(const Program *p, int line, const char *text) {
  if (strcmp(text, "example") && strcmp(text, "element")) {
    bad_line(p, line, "per must be example or element");
  }
  return strcmp(text, "example") == 0;
}

/* One line of the text: `key value...`; keys this program does not use are skipped. */
static void parse_line(Program *p, int line, char *text) {
  const char *key = strtok(text, " \r\n");
  if (!key) return;
  if (line == 1) {
    if (strcmp(key, "format") || strcmp(word(p, line, key), TEXT_FORMAT)) {
      bad_line(p, line, "not `format " TEXT_FORMAT "`");
    }
  } else if (!strcmp(key, "sampler")) {
    strcpy(p->sampler, word(p, line, key));
  } else if (!strcmp(key, "step")) {
    strcpy(p->step, word(p, line, key));
  } else if (!strcmp(key, "finish")) {
    strcpy(p->finish, word(p, line, key));
  } else if (!strcmp(key, "num_steps")) {
    p->num_steps = whole_number(p, line, word(p, line, key), 1);
  } else if (!strcmp(key, "score_evaluations")) {
    p->score_evaluations = whole_number(p, line, word(p, line, key), 0);
  } else if (!strcmp(key, "element_shape")) {
    for (const char *w; (w = strtok(NULL, " \r\n"));) {
      if (p->rank == MAX_RANK) bad_line(p, line, "more than 8 dimensions");
      p->shape[p->rank++] = whole_number(p, line, w, 1);
    }
  } else if (!strcmp(key, "prior")) {
    const char *kind = word(p, line, key);
    if (strcmp(kind, "uniform") && strcmp(kind, "normal")) {
      bad_line(p, line, "the prior must be uniform or normal");
    }
    p->prior_uniform = !strcmp(kind, "uniform");
    p->prior_a = real_number(p, line, word(p, line, key));
    p->prior_b = real_number(p, line, word(p, line, key));
    p->has_prior = 1;
  } else if (!strcmp(key, "state")) {
    if (p->num_state == MAX_ENTRIES) bad_line(p, line, "more than 16 state entries");
    State *s = &p->state[p->num_state++];
    strcpy(s->name, word(p, line, key));
    s->per_example = per_example(p, line, word(p, line, key));
  } else if (!strcmp(key, "noise")) {
    if (p->num_noise == MAX_ENTRIES) bad_line(p, line, "more than 16 noise entries");
    Noise *n = &p->noise[p->num_noise++];
    strcpy(n->name, word(p, line, key));
    strcpy(n->input, word(p, line, key));
    const char *distribution = word(p, line, key);
    if (strcmp(distribution, "normal") && strcmp(distribution, "uniform")) {
      bad_line(p, line, "a noise distribution must be normal or uniform");
    }
    n->uniform = !strcmp(distribution, "uniform");
    n->per_example = per_example(p, line, word(p, line, key));
    n->every = whole_number(p, line, word(p, line, key), 1);
  } else if (!strcmp(key, "input")) {
    const char *name = word(p, line, key);
    if (strlen(p->inputs) + strlen(name) + 3 < sizeof p->inputs) {
      strcat(strcat(p->inputs, p->inputs[0] ? ", " : ""), name);
    }
  }
}

/* The names of the export's programs (PROGRAM of each PROGRAM.program.txt), for an error. */
static void list_programs(const char *dir, char *out, size_t size) {
  out[0] = '\0';
  DIR *folder = opendir(dir);
  if (!folder) return;
  for (struct dirent *entry; (entry = readdir(folder));) {
    const size_t length = strlen(entry->d_name), suffix = strlen(TEXT_SUFFIX);
    if (length > suffix && !strcmp(entry->d_name + length - suffix, TEXT_SUFFIX) &&
        strlen(out) + length + 2 < size) {
      strcat(out, out[0] ? ", " : "");
      strncat(out, entry->d_name, length - suffix);
    }
  }
  closedir(folder);
}

static void read_program(const char *dir, const char *name, Program *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->path, sizeof p->path, "%s/%s" TEXT_SUFFIX, dir, name);
  FILE *f = strchr(name, '/') ? NULL : fopen(p->path, "r");
  if (!f) {
    char known[2048], detail[6400];
    list_programs(dir, known, sizeof known);
    if (!known[0]) {
      snprintf(detail, sizeof detail, "'%s' has no *" TEXT_SUFFIX " files; give the "
               "directory `tfncsn export` wrote (an export from before they were written "
               "needs exporting again)", dir);
    } else {
      snprintf(detail, sizeof detail, "the export has no program '%s' (no '%s'); it has %s",
               name, p->path, known);
    }
    die("PROGRAM", detail);
  }
  char text[8192];
  int line = 0;
  while (fgets(text, sizeof text, f)) parse_line(p, ++line, text);
  fclose(f);
  if (line == 0) bad_line(p, 1, "the file is empty");
  if (!p->step[0] || !p->num_steps || !p->rank || !p->has_prior) {
    bad_line(p, line, "step, num_steps, element_shape or prior is missing");
  }
  if (p->num_state == 0 || strcmp(p->state[0].name, "x") || p->state[0].per_example) {
    bad_line(p, line, "the first state entry must be `state x element`");
  }
  if (p->inputs[0]) {
    char detail[2 * NAME_SIZE + 4 * NAME_SIZE];
    snprintf(detail, sizeof detail, "program %s needs the inputs %s (it inpaints); this "
             "example loops sample programs, which have none", name, p->inputs);
    die("PROGRAM", detail);
  }
}

/* ------------------------------------------------------------------------ arguments */

typedef struct {
  const char *dir, *program, *out, *x0;
  long long num_samples;
  uint32_t seed;
  int threads;
} Arguments;

static long long integer_argument(const char *text, const char *name, long long low) {
  char *end, detail[300];
  errno = 0;
  const long long value = strtoll(text, &end, 10);
  if (errno || *end || end == text || value < low) {
    snprintf(detail, sizeof detail, "'%s' is not an integer >= %lld (%s)", text, low, USAGE);
    die(name, detail);
  }
  return value;
}

static Arguments parse_arguments(int argc, char **argv) {
  Arguments a = {0};
  const char *positional[5];
  int count = 0;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--x0=", 5) && argv[i][5]) {
      a.x0 = argv[i] + 5;
    } else if (!strncmp(argv[i], "--threads=", 10)) {
      a.threads = (int)integer_argument(argv[i] + 10, "--threads", 0);
    } else if (!strncmp(argv[i], "--", 2)) {
      char detail[300];
      snprintf(detail, sizeof detail, "unknown option '%s' (%s)", argv[i], USAGE);
      die("arguments", detail);
    } else if (count < 5) {
      positional[count++] = argv[i];
    } else {
      count++;
    }
  }
  if (count != 5) {
    char detail[300];
    snprintf(detail, sizeof detail, "expected 5 arguments, got %d (%s)", count, USAGE);
    die("arguments", detail);
  }
  a.dir = positional[0];
  a.program = positional[1];
  a.num_samples = integer_argument(positional[2], "NUM_SAMPLES", 1);
  /* Only the low 32 bits seed the generator, as in the JavaScript runtime (seed >>> 0). */
  a.seed = (uint32_t)(unsigned long long)integer_argument(positional[3], "SEED", LLONG_MIN);
  a.out = positional[4];
  return a;
}

/* ------------------------------------------------------------------------ the loop */

static OrtValue *float_tensor(OrtMemoryInfo *memory, float *data, size_t count,
                              const int64_t *dims, size_t rank) {
  OrtValue *value = NULL;
  check(ort->CreateTensorWithDataAsOrtValue(memory, data, count * sizeof(float), dims, rank,
                                            ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &value),
        "cannot make a float tensor");
  return value;
}

/* Runs `graph` on the named inputs and copies each output into its buffer of `sizes[i]`
 * floats; the graph must give exactly that many. */
static void run(OrtSession *session, const char *file, const char *const *input_names,
                OrtValue *const *inputs, size_t num_inputs, const char *const *output_names,
                float *const *outputs, const size_t *sizes, size_t num_outputs) {
  OrtValue *results[MAX_ENTRIES] = {NULL};
  check(ort->Run(session, NULL, input_names, (const OrtValue *const *)inputs, num_inputs,
                 output_names, num_outputs, results), file);
  for (size_t i = 0; i < num_outputs; i++) {
    OrtTensorTypeAndShapeInfo *info;
    size_t count;
    check(ort->GetTensorTypeAndShape(results[i], &info), "GetTensorTypeAndShape");
    check(ort->GetTensorShapeElementCount(info, &count), "GetTensorShapeElementCount");
    ort->ReleaseTensorTypeAndShapeInfo(info);
    if (count != sizes[i]) {
      char detail[600];
      snprintf(detail, sizeof detail, "'%s' gave %zu values of %s, the program's description "
               "says %zu: they are from different exports; export again", file, count,
               output_names[i], sizes[i]);
      die("the graph does not fit its program", detail);
    }
    float *data;
    check(ort->GetTensorMutableData(results[i], (void **)&data), "GetTensorMutableData");
    memcpy(outputs[i], data, count * sizeof(float));
    ort->ReleaseValue(results[i]);
  }
}

static OrtSession *open_graph(OrtEnv *env, OrtSessionOptions *options, const char *dir,
                              const char *file) {
  char path[4096], what[NAME_SIZE + 32];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  snprintf(what, sizeof what, "cannot load %s", file);
  OrtSession *session;
  check(ort->CreateSession(env, path, options, &session), what);
  return session;
}

static void write_samples(const char *out, const float *samples, size_t count,
                          long long num_samples, const Program *p) {
  FILE *f = fopen(out, "wb");
  if (!f) die("cannot write OUT", strerror(errno));
  const size_t length = strlen(out);
  if (length >= 4 && !strcmp(out + length - 4, ".npy")) { /* NumPy format 1.0. */
    char header[256];
    int used = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (%lld, ", num_samples);
    for (size_t i = 0; i < p->rank; i++) {
      used += snprintf(header + used, sizeof header - (size_t)used, "%lld, ",
                       (long long)p->shape[i]);
    }
    used += snprintf(header + used, sizeof header - (size_t)used, "), }");
    const int total = (10 + used + 1 + 63) / 64 * 64; /* Magic, version, length, text, \n. */
    const unsigned short text = (unsigned short)(total - 10);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(text & 0xff, f);
    fputc(text >> 8, f);
    fprintf(f, "%s%*s\n", header, total - 10 - used - 1, "");
  }
  if (fwrite(samples, sizeof(float), count, f) != count || fclose(f)) {
    die("cannot write OUT", out);
  }
}

int main(int argc, char **argv) {
  program_name = "sample";
  if (!little_endian()) die("this example writes little-endian float32 files", NULL);
  const Arguments args = parse_arguments(argc, argv);
  Program p;
  read_program(args.dir, args.program, &p);
  ort = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  if (!ort) die("the ONNX Runtime library is older than these headers", NULL);

  /* Sizes: per example N values, per element N * D. */
  const size_t n = (size_t)args.num_samples;
  size_t d = 1;
  for (size_t i = 0; i < p.rank; i++) d *= (size_t)p.shape[i];
  const size_t entries = p.num_state + p.num_noise;
  if (n > FEED_LIMIT_BYTES / sizeof(float) / d / entries) {
    char detail[200];
    snprintf(detail, sizeof detail, "%lld samples need more than 1 GiB per step; draw fewer",
             args.num_samples);
    die("NUM_SAMPLES", detail);
  }
  int64_t element_dims[1 + MAX_RANK] = {(int64_t)n}, example_dims[1] = {(int64_t)n};
  memcpy(element_dims + 1, p.shape, p.rank * sizeof(int64_t));
  float *state[MAX_ENTRIES], *noise[MAX_ENTRIES];
  size_t state_size[MAX_ENTRIES], noise_size[MAX_ENTRIES];
  for (size_t i = 0; i < p.num_state; i++) {
    state_size[i] = p.state[i].per_example ? n : n * d;
    state[i] = calloc(state_size[i], sizeof(float)); /* Zeros: every state but x. */
    if (!state[i]) die("out of memory", NULL);
  }
  for (size_t i = 0; i < p.num_noise; i++) {
    noise_size[i] = p.noise[i].per_example ? n : n * d;
    noise[i] = calloc(noise_size[i], sizeof(float));
    if (!noise[i]) die("out of memory", NULL);
  }

  Rng rng;
  rng_seed(&rng, args.seed);
  if (args.x0) { /* x from the file: nothing drawn for it. */
    size_t size;
    char *x0 = read_whole(args.x0, &size);
    if (!x0) {
      char detail[4400];
      snprintf(detail, sizeof detail, "cannot read '%s' (%s)", args.x0, strerror(errno));
      die("--x0", detail);
    }
    if (size != n * d * sizeof(float)) {
      char detail[300];
      snprintf(detail, sizeof detail, "'%s' has %zu bytes; %zu samples of %zu float32 need %zu",
               args.x0, size, n, d, n * d * sizeof(float));
      die("--x0", detail);
    }
    memcpy(state[0], x0, size);
    free(x0);
  } else if (p.prior_uniform) {
    fill_uniform(&rng, state[0], n * d, p.prior_a, p.prior_b);
  } else {
    fill_normal(&rng, state[0], n * d);
    const float mean = (float)p.prior_a, std = (float)p.prior_b;
    for (size_t i = 0; i < n * d; i++) state[0][i] = mean + std * state[0][i];
  }

  OrtEnv *env;
  OrtSessionOptions *options;
  check(ort->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "sample", &env), "CreateEnv");
  check(ort->CreateSessionOptions(&options), "CreateSessionOptions");
  check(ort->AddSessionConfigEntry(options, "session.intra_op.allow_spinning", "0"),
        "AddSessionConfigEntry");
  if (args.threads > 0) check(ort->SetIntraOpNumThreads(options, args.threads), "threads");
  OrtSession *step = open_graph(env, options, args.dir, p.step);
  OrtSession *finish = p.finish[0] ? open_graph(env, options, args.dir, p.finish) : NULL;
  OrtMemoryInfo *memory;
  check(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory), "memory");

  /* Feeds: state..., k, noise_<name>...; outputs next_<state>... */
  const char *input_names[2 * MAX_ENTRIES + 1], *output_names[MAX_ENTRIES];
  char next_names[MAX_ENTRIES][NAME_SIZE + 8];
  for (size_t i = 0; i < p.num_state; i++) {
    input_names[i] = p.state[i].name;
    snprintf(next_names[i], sizeof next_names[i], "next_%s", p.state[i].name);
    output_names[i] = next_names[i];
  }
  input_names[p.num_state] = "k";
  for (size_t i = 0; i < p.num_noise; i++) input_names[p.num_state + 1 + i] = p.noise[i].input;
  int32_t k = 0;
  for (k = 0; k < p.num_steps; k++) {
    OrtValue *inputs[2 * MAX_ENTRIES + 1];
    for (size_t i = 0; i < p.num_state; i++) {
      inputs[i] = float_tensor(memory, state[i], state_size[i],
                               p.state[i].per_example ? example_dims : element_dims,
                               p.state[i].per_example ? 1 : 1 + p.rank);
    }
    check(ort->CreateTensorWithDataAsOrtValue(memory, &k, sizeof k, NULL, 0,
                                              ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
                                              &inputs[p.num_state]), "tensor k");
    for (size_t i = 0; i < p.num_noise; i++) { /* In order; zeros (no draws) when not due. */
      if (k % p.noise[i].every == 0) {
        if (p.noise[i].uniform) fill_uniform(&rng, noise[i], noise_size[i], 0.0, 1.0);
        else fill_normal(&rng, noise[i], noise_size[i]);
      } else {
        memset(noise[i], 0, noise_size[i] * sizeof(float));
      }
      inputs[p.num_state + 1 + i] = float_tensor(
          memory, noise[i], noise_size[i], p.noise[i].per_example ? example_dims : element_dims,
          p.noise[i].per_example ? 1 : 1 + p.rank);
    }
    run(step, p.step, input_names, inputs, entries + 1, output_names, state, state_size,
        p.num_state);
    for (size_t i = 0; i < entries + 1; i++) ort->ReleaseValue(inputs[i]);
  }
  float *samples = state[0];
  if (finish) {
    OrtValue *inputs[MAX_ENTRIES];
    for (size_t i = 0; i < p.num_state; i++) {
      inputs[i] = float_tensor(memory, state[i], state_size[i],
                               p.state[i].per_example ? example_dims : element_dims,
                               p.state[i].per_example ? 1 : 1 + p.rank);
    }
    samples = malloc(n * d * sizeof(float));
    if (!samples) die("out of memory", NULL);
    const char *finish_output[] = {"samples"};
    const size_t sample_size[] = {n * d};
    run(finish, p.finish, input_names, inputs, p.num_state, finish_output, &samples,
        sample_size, 1);
    for (size_t i = 0; i < p.num_state; i++) ort->ReleaseValue(inputs[i]);
  }
  write_samples(args.out, samples, n * d, args.num_samples, &p);
  printf("wrote %s: %lld samples of program %s (%s, %ld steps, %ld score evaluations), seed "
         "%u%s\n", args.out, args.num_samples, args.program, p.sampler[0] ? p.sampler : "?",
         p.num_steps, p.score_evaluations, (unsigned)args.seed, args.x0 ? ", x0 from --x0" : "");

  if (finish) {
    free(samples);
    ort->ReleaseSession(finish);
  }
  for (size_t i = 0; i < p.num_state; i++) free(state[i]);
  for (size_t i = 0; i < p.num_noise; i++) free(noise[i]);
  ort->ReleaseMemoryInfo(memory);
  ort->ReleaseSession(step);
  ort->ReleaseSessionOptions(options);
  ort->ReleaseEnv(env);
  return 0;
}
