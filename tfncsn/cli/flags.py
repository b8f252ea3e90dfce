"""Every command-line flag of `tfncsn`, defined in one place.

Flagfiles under configs/ set these; flags given on the command line after
`--flagfile` override the file. Library code never reads these flags: the
commands turn them into `tfncsn.config` dataclasses.
"""

from __future__ import annotations

import json
from typing import Any

from absl import flags

from tfncsn import config
from tfncsn.classifier_records import ClassifierConfig
from tfncsn.evaluation.config import EvalConfig

FLAGS = flags.FLAGS


def define_setting_flags(config_class: type) -> None:
    """One flag per setting of `config_class` (see `tfncsn.config.setting`), named, typed and
    defaulted as the setting is declared there."""
    for _, field in config.settings(config_class):
        name, help_text = config.flag_name(field), field.metadata["help"]
        default = config.default_of(field)
        if config.is_options(field):
            flags.DEFINE_multi_string(name, [], help_text)
        elif isinstance(default, tuple):
            flags.DEFINE_list(name, list(default), help_text)
        elif field.metadata["choices"]:
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text)
        elif isinstance(default, bool):
            flags.DEFINE_bool(name, default, help_text)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, help_text)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, help_text)
        else:
            flags.DEFINE_string(name, default, help_text)


# Where: the rest of what a run is (dataset, model, noise levels, training, sampler) is
# declared once, in tfncsn/config.py.
flags.DEFINE_string("workdir", None, "Run directory: config.json, checkpoints/, train/ summaries.")
flags.DEFINE_string("data_dir", None, "Where the dataset plugin looks for its files.")
define_setting_flags(config.RunConfig)

flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy: one device, all local GPUs, workers from "
                  "TF_CONFIG, or a TPU.")
flags.DEFINE_integer("num_cpu_devices", 0, "Split the CPU into this many logical devices "
                     "(testing mirrored/multi_worker without GPUs).")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")

# Sampling (docs/samplers.md). --sampler and --sampler_options are settings of the run
# (above); the sampler's options default to the plugin's own `Options`. These four are
# shortcuts for the Langevin samplers' options of the same names (defaults: the plugin's).
flags.DEFINE_float("eps", None, "annealed_langevin/langevin: base step size epsilon.")
flags.DEFINE_integer("steps_per_level", None, "annealed_langevin/langevin: Langevin steps T "
                     "per noise level.")
flags.DEFINE_enum("step_convention", None, ["paper", "reference"],
                  "annealed_langevin/langevin: paper: x += a/2 s + sqrt(a) z; reference: "
                  "x += a s + sqrt(2a) z, the authors' image code.")
flags.DEFINE_bool("denoise", None, "annealed_langevin/langevin: finish with the denoising step "
                  "x += sigma_L^2 s(x).")
flags.DEFINE_integer("num_samples", 64, "How many samples to draw.")
flags.DEFINE_string("output", None, "Where the result goes: sample .npy, .npz (with intermediate "
                    "states) or .png; figure2, figure3 .png; inpaint .png or .npz; evaluate and "
                    "bench .json; export a new or empty folder.")
flags.DEFINE_integer("keep_every", 0, "Keep the state every this many Langevin steps (0: none).")
flags.DEFINE_enum("score", "model", ["model", "exact"],
                  "model: the trained network in --workdir; exact: the dataset's analytic score.")
flags.DEFINE_integer("checkpoint_step", None, "sample, inpaint, figure2, figure3, evaluate, "
                     "export: the weights of the checkpoint saved at this training step "
                     "(default: the latest; ls WORKDIR/checkpoints lists them as ckpt-STEP).",
                     lower_bound=0)
flags.DEFINE_integer("langevin_steps", 1000, "figure3: steps of the plain Langevin panel.")
# Class-conditional sampling by classifier guidance (docs/conditioning.md).
flags.DEFINE_string("class", None, "sample: draw class K (an integer) with the classifier of "
                    "--workdir/classifier/ (tfncsn train-classifier), or all: --num_samples of "
                    "each class, one PNG row per class.")
flags.DEFINE_float("guidance", 1.0, "sample --class: the guidance scale S in s(x) + S grad_x "
                   "log p(y | x, sigma) (1: the conditional score by Bayes' rule).")

flags.DEFINE_bool("debug", False, "Show full tracebacks instead of one-line errors.")

def parse_options(items: list[str], what: str) -> dict[str, Any]:
    """Parses ["k=v", ...] into a dict, reading each value as JSON when it is JSON."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--{what} entries must look like key=value, got '{item}'")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def explicitly_set(name: str) -> bool:
    """True when the flag came from the command line or a flagfile."""
    return FLAGS[name].present > 0

# Inpainting (Algorithm 2).
flags.DEFINE_string("images", None, "inpaint: images to complete: test:N or train:N (the run's "
                    "dataset), a .npy/.npz array [N,H,W,C] in [0,1] or uint8, an image file or "
                    "a folder of images.")
flags.DEFINE_string("mask", "right_half", "inpaint: the region to fill (left_half, right_half, "
                    "top_half, bottom_half, center), a .npy/.png file where 1/white marks "
                    "KNOWN pixels, or grayscale: colour RGB images, their gray image known.")
flags.DEFINE_integer("num_completions", 4, "inpaint: completions drawn per image.")

# NCSNv2's noise-level rules.
flags.DEFINE_integer("num_examples", 10_000, "noise-levels: training examples whose largest "
                     "pairwise distance is sigma_1 (the first N in the dataset's order; 0: all).",
                     lower_bound=0)

# Plugins.
flags.DEFINE_bool("load", False, "plugins: also import every plugin and check it against its "
                  "group's contract (imports TensorFlow); without it the list is read from the "
                  "installed metadata alone.")

# Benchmark.
flags.DEFINE_list("bench_networks", ["28x28x1:64", "32x32x3:128"], "bench: HxWxC:ngf of each "
                  "network (the paper's MNIST and CIFAR-10 sizes by default).")
flags.DEFINE_list("bench_batch_sizes", ["8"], "bench: batch sizes to measure.")
flags.DEFINE_list("bench_jit", ["off", "on"], "bench: jit_compile settings to measure (off, on).")
flags.DEFINE_list("bench_precisions", ["float32", "mixed_bfloat16"], "bench: precisions to "
                  "measure (float32, mixed_bfloat16, mixed_float16).")
flags.DEFINE_boolean("bench_onnx", True, "bench: also time each float32 network in ONNX Runtime "
                     "(converting a paper-size network takes a few minutes).")
flags.DEFINE_integer("bench_steps", 5, "bench: timed steps per configuration after warm-up.")
flags.DEFINE_integer("bench_rounds", 1, "bench: times every configuration is measured, one round "
                     "of all of them after another, so that a machine whose speed drifts slows "
                     "them alike; above 1 each figure is the median of its rounds, with their "
                     "range.", lower_bound=1)
flags.DEFINE_float("bench_timeout", 1800, "bench: seconds one configuration may take before it "
                   "is stopped and reported as failed (0: no limit).", lower_bound=0)

import tfncsn.cli.export_flags  # noqa: F401

# `tfncsn evaluate`: its settings (docs/evaluation.md); it also reads --workdir, --num_samples,
# --seed, --output, --data_dir, --keep_every and the sampler flags above.
define_setting_flags(EvalConfig)

# `tfncsn train-classifier`: the noise-conditional classifier's settings (tfncsn/classifier_records.py).
define_setting_flags(ClassifierConfig)
