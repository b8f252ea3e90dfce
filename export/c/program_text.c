/* Reads a program's flat text (program_text.h). */
#define _POSIX_C_SOURCE 200809L /* opendir: the programs an export has, for the error. */

#include "program_text.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_io.h"

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

void read_program(const char *dir, const char *name, Program *p) {
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
