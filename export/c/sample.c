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
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_io.h"
#include "onnxruntime_c_api.h"
#include "program_text.h"
#include "random.h"

#define FEED_LIMIT_BYTES ((size_t)1 << 30) /* The per-step feed, as tfncsn_runtime's. */

static const char USAGE[] =
    "usage: sample [--x0=FILE] [--threads=N] EXPORT_DIR PROGRAM NUM_SAMPLES SEED OUT";

/* ------------------------------------------------------------------------ arguments */

typedef struct {
  const char *dir, *program, *out, *x0;
  long long num_samples;
  uint32_t seed;
  int threads;
} Arguments;

/* The integer `text` (at least `low`, when low > LLONG_MIN), or a one-line error. */
static long long integer_argument(const char *text, const char *name, long long low) {
  char *end, bound[40] = "", detail[300];
  errno = 0;
  const long long value = strtoll(text, &end, 10);
  if (errno || *end || end == text || value < low) {
    if (low > LLONG_MIN) snprintf(bound, sizeof bound, " >= %lld", low);
    snprintf(detail, sizeof detail, "'%s' is not an integer%s (%s)", text, bound, USAGE);
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

/* The batch's tensors: [N] per example, [N, *element_shape] per element. */
typedef struct {
  OrtMemoryInfo *memory;
  int64_t dims[1 + MAX_RANK]; /* N, then the element shape. */
  size_t rank;                /* Of the element shape. */
} Batch;

static OrtValue *float_tensor(const Batch *batch, float *data, size_t count, int per_example) {
  OrtValue *value = NULL;
  check(ort->CreateTensorWithDataAsOrtValue(batch->memory, data, count * sizeof(float),
                                            batch->dims, per_example ? 1 : 1 + batch->rank,
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
  Batch batch = {.dims = {(int64_t)n}, .rank = p.rank};
  memcpy(batch.dims + 1, p.shape, p.rank * sizeof(int64_t));
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
  check(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &batch.memory),
        "memory");

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
      inputs[i] = float_tensor(&batch, state[i], state_size[i], p.state[i].per_example);
    }
    check(ort->CreateTensorWithDataAsOrtValue(batch.memory, &k, sizeof k, NULL, 0,
                                              ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
                                              &inputs[p.num_state]), "tensor k");
    for (size_t i = 0; i < p.num_noise; i++) { /* In order; zeros (no draws) when not due. */
      if (k % p.noise[i].every == 0) {
        if (p.noise[i].uniform) fill_uniform(&rng, noise[i], noise_size[i], 0.0, 1.0);
        else fill_normal(&rng, noise[i], noise_size[i]);
      } else {
        memset(noise[i], 0, noise_size[i] * sizeof(float));
      }
      inputs[p.num_state + 1 + i] = float_tensor(&batch, noise[i], noise_size[i],
                                                 p.noise[i].per_example);
    }
    run(step, p.step, input_names, inputs, entries + 1, output_names, state, state_size,
        p.num_state);
    for (size_t i = 0; i < entries + 1; i++) ort->ReleaseValue(inputs[i]);
  }
  float *samples = state[0];
  if (finish) {
    OrtValue *inputs[MAX_ENTRIES];
    for (size_t i = 0; i < p.num_state; i++) {
      inputs[i] = float_tensor(&batch, state[i], state_size[i], p.state[i].per_example);
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
  ort->ReleaseMemoryInfo(batch.memory);
  ort->ReleaseSession(step);
  ort->ReleaseSessionOptions(options);
  ort->ReleaseEnv(env);
  return 0;
}
