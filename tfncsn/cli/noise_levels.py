"""`tfncsn noise-levels`: NCSNv2's noise levels and step size for a dataset, as flags.

Reads --num_examples training examples of --dataset (in the model's space, as training sees
them, without the training-time noise) and prints the flags of Techniques 1, 2 and 4
(`tfncsn.noise_rules`, docs/algorithms.md#noise-rules), ready for a flagfile. Below
`noise_rules.MIN_DIMS` dimensions Technique 2 sets nothing: the command then needs --num_levels
and prints it with Techniques 1 and 4 (docs/writing-a-plugin.md, "Tuning a new low-dimensional
dataset").
"""

from __future__ import annotations

import numpy as np

from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS, explicitly_set, parse_options
from tfncsn.config import ConfigError

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py);
# --num_levels only below noise_rules.MIN_DIMS dimensions.
FLAGS_USED = ("num_examples", "dataset", "dataset_options", "data_dir", "sigma_min",
              "num_levels", "steps_per_level", "step_convention")
# Where the flags' own defaults (the sampler's) do not apply: NCSNv2's T for CIFAR-10 and
# CelebA, with the authors' step.
DEFAULTS = {"steps_per_level": 5, "step_convention": "reference"}


def read_examples(dataset, limit: int) -> tuple[np.ndarray, bool]:
    """(the first `limit` training examples (0: all) as float64 [N, D], whether that is all)."""
    data = dataset.load("train")
    if limit > 0:
        data = data.take(limit + 1)  # One more tells whether the split has more.
    batches = list(data.batch(4096).as_numpy_iterator())
    x = np.concatenate(batches).reshape(sum(len(b) for b in batches), -1) if batches else \
        np.zeros((0, 1))
    whole = limit == 0 or len(x) <= limit
    return x[:limit] if limit > 0 else x, whole


def proposal_lines(name: str, levels, count: int, whole: bool,
                   sigma_min_given: bool = True) -> list[str]:
    """The comment lines and flags `run` prints for a `noise_rules.NoiseLevels`."""
    from tfncsn.noise_rules import MIN_DIMS
    sample = "all" if whole else f"the first {count}"
    if levels.gamma is not None:
        technique2 = (f"# Technique 2: gamma = {levels.gamma:.6f} gives overlap 0.5; "
                      f"L = {levels.num_levels} geometric levels down to sigma_L = "
                      f"{levels.sigma_min:g} (ratio {levels.ratio:.6f})")
    else:
        technique2 = (f"# Technique 2 does not apply below D = {MIN_DIMS} (every ratio passes "
                      f"its overlap test): L = {levels.num_levels} geometric levels from "
                      f"--num_levels, down to sigma_L = {levels.sigma_min:g}"
                      + ("" if sigma_min_given else
                         " (--sigma_min's default: set it below the smallest detail to resolve)")
                      + f" (ratio {levels.ratio:.6f})")
    return [
        f"# NCSNv2 noise levels for {name} (Song & Ermon 2020), D = {levels.dims}:",
        f"# Technique 1: sigma_1 = {levels.sigma_max:.6g}, the largest pairwise distance of "
        f"{sample} training examples" + ("" if whole else " (a lower bound of the whole split's)"),
        technique2,
        f"# Technique 4: eps = {levels.eps:.4g} brings s_T^2/sigma_i^2 to "
        f"{levels.variance_ratio:.4f} (closest to 1) with T = {levels.steps_per_level}, "
        f"step_convention={levels.convention}",
        "--sigma_schedule=geometric",
        f"--sigma_max={levels.sigma_max:.6g}",
        f"--sigma_min={levels.sigma_min:g}",
        f"--num_levels={levels.num_levels}",
        f"--step_convention={levels.convention}",
        f"--steps_per_level={levels.steps_per_level}",
        f"--eps={levels.eps:.4g}",
    ]


def run() -> None:
    from tfncsn import noise_rules
    try:
        options = parse_options(FLAGS.dataset_options or [], "dataset_options")
    except ValueError as e:
        raise ConfigError(str(e)) from None
    steps = (FLAGS.steps_per_level if FLAGS.steps_per_level is not None
             else DEFAULTS["steps_per_level"])
    convention = FLAGS.step_convention or DEFAULTS["step_convention"]
    if steps < 1:
        raise ConfigError(f"--steps_per_level must be at least 1, got {steps}")
    if FLAGS.num_examples == 1:
        raise ConfigError("--num_examples must be at least 2 (or 0: all) to have a pair")
    common.start_tensorflow()
    from tfncsn import builders
    from tfncsn.data.errors import explained
    from tfncsn.progress import progress_bar
    dataset = builders.make_dataset(FLAGS.dataset, options, FLAGS.data_dir)
    with explained(dataset):
        x, whole = read_examples(dataset, FLAGS.num_examples)
    if len(x) < 2:
        raise ConfigError(f"dataset '{FLAGS.dataset}' has {len(x)} training examples; the "
                          "largest pairwise distance needs two")
    dims = x.shape[1]
    with progress_bar(len(x), "pairwise distances") as bar:
        sigma_max = noise_rules.max_pairwise_distance(x, callback=bar.update)
    if not sigma_max > FLAGS.sigma_min:
        raise ConfigError(f"the largest pairwise distance {sigma_max:g} is not above "
                          f"--sigma_min={FLAGS.sigma_min:g}; give a smaller --sigma_min")
    given = None
    if not noise_rules.technique2_applies(dims):
        if not explicitly_set("num_levels"):
            raise ConfigError(
                f"Technique 2 needs data of at least {noise_rules.MIN_DIMS} dimensions (its "
                f"normal approximation of the norm), got {dims}: below that every ratio passes "
                f"its overlap test, so it cannot set the number of levels; Technique 1 gives "
                f"--sigma_max={sigma_max:.6g}: give --num_levels and --sigma_min (the paper's "
                f"2-D toy: 10 levels from 20 to 1, ratio {noise_rules.TOY_RATIO:.2f}) and this "
                "command adds Technique 4's eps for them")
        if FLAGS.num_levels < 2:
            raise ConfigError(f"--num_levels must be at least 2, got {FLAGS.num_levels}")
        given = FLAGS.num_levels
    levels = noise_rules.propose(sigma_max, FLAGS.sigma_min, dims, steps, convention, given)
    print("\n".join(proposal_lines(FLAGS.dataset, levels, len(x), whole,
                                   explicitly_set("sigma_min"))))
