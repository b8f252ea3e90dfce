/* One-line errors and whole-file reads for the C examples (export_io.h). */
#include "export_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *program_name = "tfncsn";
const OrtApi *ort = NULL;

void die(const char *what, const char *detail) {
  fprintf(stderr, "%s: error: %s%s%s\n", program_name, what, detail ? ": " : "",
          detail ? detail : "");
  exit(2);
}

void check(OrtStatus *status, const char *what) {
  if (status == NULL) return;
  char message[300];
  snprintf(message, sizeof message, "%s", ort->GetErrorMessage(status));
  message[strcspn(message, "\n")] = '\0';
  ort->ReleaseStatus(status);
  die(what, message);
}

char *read_whole(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *data = NULL;
  long length = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (length = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = malloc((size_t)length + 1);
  }
  if (!data || fread(data, 1, (size_t)length, f) != (size_t)length) {
    free(data);
    fclose(f);
    errno = EIO;
    return NULL;
  }
  data[length] = '\0';
  fclose(f);
  *size = (size_t)length;
  return data;
}

char *read_file(const char *dir, const char *name, size_t *size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *data = read_whole(path, size);
  if (!data) {
    char detail[4200];
    snprintf(detail, sizeof detail, "'%s' is missing from the export; give the directory "
             "`tfncsn export` wrote", path);
    die("cannot read the export", detail);
  }
  return data;
}

int little_endian(void) {
  const unsigned int one = 1;
  return *(const unsigned char *)&one == 1;
}
