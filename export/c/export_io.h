/* What the C examples share: one-line errors, ONNX Runtime's status checked, files of an
 * export read whole. Each program sets `program_name` (the start of its error lines) and
 * `ort` (the C API) first. */
#ifndef TFNCSN_EXPORT_IO_H
#define TFNCSN_EXPORT_IO_H

#include <stddef.h>

#include "onnxruntime_c_api.h"

extern const char *program_name;
extern const OrtApi *ort;

/* Prints "NAME: error: what: detail" (detail may be NULL) on stderr and exits with 2. */
void die(const char *what, const char *detail);

/* Stops with ONNX Runtime's message (its first line) when a call fails. */
void check(OrtStatus *status, const char *what);

/* The whole file at `path`, NUL-terminated, or NULL (errno set) when it cannot be read;
 * *size gets its length in bytes. */
char *read_whole(const char *path, size_t *size);

/* The whole file dir/name, NUL-terminated; *size gets its length in bytes. A missing file
 * stops with "cannot read the export: 'dir/name' is missing from the export; ...". */
char *read_file(const char *dir, const char *name, size_t *size);

int little_endian(void);

#endif
