/* Checks a `tfncsn export` with the ONNX Runtime C API alone: runs the golden input through
 * model.onnx and compares with the golden score elementwise,
 *
 *     |got - score| <= atol + rtol * scale      (metadata.json's "tolerance")
 *
 * where scale is the root mean square of that input's golden score ("scale": "rms"), or
 * |score| for exports written before "scale" existed,
 * as docs/export.md ("Golden pair and tolerance") describes. The golden pair is read with
 * fread from the raw little-endian files golden/x.float32.bin, golden/level.int32.bin and
 * golden/score.float32.bin; the sample shape comes from the graph's input "x" [N, ...], so no
 * JSON library is needed (metadata.json is searched only for its format and tolerance).
 *
 *     golden_check EXPORT_DIR      exit 0: passed, 1: failed, 2: the export cannot be read
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_io.h"
#include "onnxruntime_c_api.h"

#define FORMAT "\"tfncsn.score/2\""

/* The number after "key": in a JSON text, or `fallback` when the key is absent. */
static double json_number(const char *text, const char *key, double fallback) {
  const char *at = strstr(text, key);
  if (!at) return fallback;
  at = strchr(at + strlen(key), ':');
  return at ? strtod(at + 1, NULL) : fallback;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s EXPORT_DIR (the directory `tfncsn export` wrote)\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  program_name = "golden_check";
  if (!little_endian()) die("this example reads the golden files on little-endian hosts", NULL);
  ort = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  if (!ort) die("the ONNX Runtime library is older than these headers", NULL);

  size_t meta_size, x_size, level_size, score_size;
  char *meta = read_file(dir, "metadata.json", &meta_size);
  if (!strstr(meta, "\"format\": " FORMAT) && !strstr(meta, "\"format\":" FORMAT)) {
    die("metadata.json is not of format " FORMAT, "export again with this tfncsn");
  }
  const char *tolerance = strstr(meta, "\"tolerance\"");
  const double atol = tolerance ? json_number(tolerance, "\"atol\"", 1e-4) : 1e-4;
  const double rtol = tolerance ? json_number(tolerance, "\"rtol\"", 1e-4) : 1e-4;
  const int by_rms = tolerance && strstr(tolerance, "\"scale\": \"rms\"") != NULL;
  float *x = (float *)read_file(dir, "golden/x.float32.bin", &x_size);
  int32_t *level = (int32_t *)read_file(dir, "golden/level.int32.bin", &level_size);
  float *expected = (float *)read_file(dir, "golden/score.float32.bin", &score_size);
  const int64_t n = (int64_t)(level_size / sizeof(int32_t));
  if (n == 0 || x_size != score_size || x_size % ((size_t)n * sizeof(float))) {
    char detail[200];
    snprintf(detail, sizeof detail, "x has %zu bytes, score %zu, level %zu: not [N, ...], "
             "[N, ...] and [N]; export again", x_size, score_size, level_size);
    die("the golden files do not fit together", detail);
  }

  OrtEnv *env;
  OrtSessionOptions *options;
  OrtSession *session;
  check(ort->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "golden_check", &env), "CreateEnv");
  check(ort->CreateSessionOptions(&options), "CreateSessionOptions");
  check(ort->SetIntraOpNumThreads(options, 1), "SetIntraOpNumThreads");
  char model[4096];
  snprintf(model, sizeof model, "%s/model.onnx", dir);
  check(ort->CreateSession(env, model, options, &session), "cannot load model.onnx");

  /* The shape of input 0 ("x"): [N, *element_shape], N symbolic (-1). */
  OrtTypeInfo *type_info;
  const OrtTensorTypeAndShapeInfo *tensor_info;
  size_t rank;
  check(ort->SessionGetInputTypeInfo(session, 0, &type_info), "SessionGetInputTypeInfo");
  check(ort->CastTypeInfoToTensorInfo(type_info, &tensor_info), "CastTypeInfoToTensorInfo");
  check(ort->GetDimensionsCount(tensor_info, &rank), "GetDimensionsCount");
  int64_t dims[8];
  if (rank < 2 || rank > 8) die("model.onnx's input x is not [N, ...]", NULL);
  check(ort->GetDimensions(tensor_info, dims, rank), "GetDimensions");
  ort->ReleaseTypeInfo(type_info);
  int64_t element = 1;
  for (size_t i = 1; i < rank; i++) element *= dims[i];
  dims[0] = n;
  if ((size_t)(n * element) * sizeof(float) != x_size) {
    char detail[200];
    snprintf(detail, sizeof detail, "golden x holds %zu floats; the model's input for %lld "
             "levels needs %lld x %lld", x_size / sizeof(float), (long long)n, (long long)n,
             (long long)element);
    die("the golden pair does not fit model.onnx", detail);
  }

  OrtMemoryInfo *memory;
  check(ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory), "memory info");
  OrtValue *inputs[2] = {NULL, NULL}, *output = NULL;
  const int64_t level_dims[1] = {n};
  check(ort->CreateTensorWithDataAsOrtValue(memory, x, x_size, dims, rank,
                                            ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &inputs[0]),
        "tensor x");
  check(ort->CreateTensorWithDataAsOrtValue(memory, level, level_size, level_dims, 1,
                                            ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, &inputs[1]),
        "tensor level");
  const char *input_names[] = {"x", "level"}, *output_names[] = {"score"};
  check(ort->Run(session, NULL, input_names, (const OrtValue *const *)inputs, 2, output_names, 1,
                 &output), "Run");
  float *got;
  check(ort->GetTensorMutableData(output, (void **)&got), "GetTensorMutableData");

  const size_t per_input = (size_t)element;
  double max_abs = 0.0, max_rel = 0.0;
  int passed = 1;
  for (int64_t row = 0; row < n; row++) {
    const float *want = expected + (size_t)row * per_input, *have = got + (size_t)row * per_input;
    double sum_squares = 0.0;
    for (size_t j = 0; j < per_input; j++) sum_squares += (double)want[j] * want[j];
    const double rms = sqrt(sum_squares / (double)per_input);
    for (size_t j = 0; j < per_input; j++) {
      const double diff = fabs((double)have[j] - (double)want[j]);
      const double scale = by_rms ? rms : fabs((double)want[j]);
      if (!(diff <= atol + rtol * scale)) passed = 0;
      if (diff > max_abs) max_abs = diff;
      if (diff / (scale > atol ? scale : atol) > max_rel) max_rel = diff / (scale > atol ? scale : atol);
    }
  }
  printf("golden check %s on %lld inputs: max abs diff %.3g, max rel diff %.3g (tolerance "
         "|diff| <= %g + %g %s)\n", passed ? "passed" : "failed", (long long)n, max_abs,
         max_rel, atol, rtol, by_rms ? "rms(expected of the input)" : "|expected|");

  ort->ReleaseValue(output);
  ort->ReleaseValue(inputs[0]);
  ort->ReleaseValue(inputs[1]);
  ort->ReleaseMemoryInfo(memory);
  ort->ReleaseSession(session);
  ort->ReleaseSessionOptions(options);
  ort->ReleaseEnv(env);
  free(meta);
  free(x);
  free(level);
  free(expected);
  return passed ? 0 : 1;
}
