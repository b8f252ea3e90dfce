/* A program of an export as its flat text describes it (NAME.program.txt, docs/export.md "The
 * program as text": one `key value...` a line; keys not used here are skipped). */
#ifndef TFNCSN_PROGRAM_TEXT_H
#define TFNCSN_PROGRAM_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define TEXT_FORMAT "tfncsn.program/1"
#define TEXT_SUFFIX ".program.txt"
#define MAX_ENTRIES 16 /* State and noise entries of one program. */
#define MAX_RANK 8
#define NAME_SIZE 256

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

/* Reads dir/name.program.txt into *p. Stops with one line when there is no such program
 * (listing the export's), when a line cannot be read, or when the program has inputs
 * (inpainting), which these examples do not feed. */
void read_program(const char *dir, const char *name, Program *p);

#endif
