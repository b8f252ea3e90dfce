"""Every command-line flag of `tfncsn`, defined in one place.

Flagfiles under configs/ set these; flags given on the command line after
`--flagfile` override the file. Library code never reads these flags: the
commands turn them into `tfncsn.config` dataclasses.
"""

from __future__ import annotations

import json
from typing import Any

from absl import flags

FLAGS = flags.FLAGS

# Where and what.
flags.DEFINE_string("workdir", None, "Run directory: config.json, checkpoints/, train/ summaries.")
flags.DEFINE_string("data_dir", None, "Where the dataset plugin looks for its files.")
flags.DEFINE_string("dataset", "toy", "Dataset plugin name (see `tfncsn plugins`).")
flags.DEFINE_multi_string("dataset_options", [], "A dataset keyword option as key=value "
                          "(JSON value); repeat the flag for more.")
flags.DEFINE_string("model", "mlp", "Score network plugin name.")
flags.DEFINE_multi_string("model_options", [], "A model keyword option as key=value (JSON "
                          "value), e.g. hidden_units=[64,64]; repeat the flag for more.")

# Noise levels (Song & Ermon 2019, section 4.2).
flags.DEFINE_string("sigma_schedule", "geometric", "Sigma schedule plugin name.")
flags.DEFINE_float("sigma_max", 1.0, "Largest noise level sigma_1.")
flags.DEFINE_float("sigma_min", 0.01, "Smallest noise level sigma_L.")
flags.DEFINE_integer("num_levels", 10, "Number of noise levels L.")

# Training (paper Appendix B.2).
flags.DEFINE_integer("steps", 200_000, "Total training steps (a resumed run continues to this).")
flags.DEFINE_integer("batch_size", 128, "Global batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("seed", 0, "Seed of the data order, noise draws and sampling.")
flags.DEFINE_enum("loss", "dsm", ["dsm", "ssm"], "Denoising or sliced score matching.")
flags.DEFINE_enum("ssm_projection", "gaussian", ["gaussian", "rademacher"],
                  "Distribution of the SSM projection vectors.")
flags.DEFINE_bool("ssm_variance_reduced", True, "Use the variance-reduced SSM objective.")
flags.DEFINE_integer("checkpoint_every", 5000, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", 5, "How many recent checkpoints to keep.")
flags.DEFINE_integer("log_every", 100, "Steps between summaries and progress lines.")
flags.DEFINE_integer("sample_every", 0, "Steps between sample grids in TensorBoard (0: never); "
                     "each runs the full sampler on 16 samples.")
flags.DEFINE_float("ema_decay", 0.0, "EMA of the weights (0: off; NCSNv2 uses 0.999); "
                   "sampling uses the EMA weights when on.")
flags.DEFINE_float("grad_clip_norm", 0.0, "Clip the global gradient norm (0: off).")
flags.DEFINE_bool("jit_compile", False, "Compile the forward and backward pass with XLA.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy: one device, all local GPUs, workers from "
                  "TF_CONFIG, or a TPU.")
flags.DEFINE_integer("num_cpu_devices", 0, "Split the CPU into this many logical devices "
                     "(testing mirrored/multi_worker without GPUs).")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")

# Sampling (docs/samplers.md). The sampler's options default to the plugin's own
# `Options`; --eps, --steps_per_level, --step_convention and --denoise are
# shortcuts for the Langevin samplers' options of the same names.
flags.DEFINE_string("sampler", "annealed_langevin", "Sampler plugin name (tfncsn plugins).")
flags.DEFINE_multi_string("sampler_options", [], "A sampler option as key=value (JSON value), "
                          "e.g. snr=0.16; repeat the flag for more. Replaces the saved options "
                          "of the run's sampler; a different --sampler starts from its defaults.")
flags.DEFINE_float("eps", None, "annealed_langevin/langevin: base step size epsilon "
                   "(default 2e-5).")
flags.DEFINE_integer("steps_per_level", None, "annealed_langevin/langevin: Langevin steps T "
                     "per noise level (default 100).")
flags.DEFINE_enum("step_convention", None, ["paper", "reference"],
                  "annealed_langevin/langevin: paper: x += a/2 s + sqrt(a) z; reference: "
                  "x += a s + sqrt(2a) z, the authors' image code (default paper).")
flags.DEFINE_bool("denoise", None, "annealed_langevin/langevin: finish with the denoising step "
                  "x += sigma_L^2 s(x) (default false).")
flags.DEFINE_integer("num_samples", 64, "How many samples to draw.")
flags.DEFINE_string("output", None, "Output file: .npy, .npz (with intermediate states) or .png.")
flags.DEFINE_integer("keep_every", 0, "Keep the state every this many Langevin steps (0: none).")
flags.DEFINE_enum("score", "model", ["model", "exact"],
                  "model: the trained network in --workdir; exact: the dataset's analytic score.")
flags.DEFINE_integer("langevin_steps", 1000, "figure3: steps of the plain Langevin panel.")

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
                    "top_half, bottom_half, center) or a .npy/.png file where 1/white marks "
                    "KNOWN pixels.")
flags.DEFINE_integer("num_completions", 4, "inpaint: completions drawn per image.")

# Benchmark.
flags.DEFINE_list("bench_networks", ["28x28x1:64", "32x32x3:128"], "bench: HxWxC:ngf of each "
                  "network (the paper's MNIST and CIFAR-10 sizes by default).")
flags.DEFINE_list("bench_batch_sizes", ["8"], "bench: batch sizes to measure.")
flags.DEFINE_list("bench_jit", ["off", "on"], "bench: jit_compile settings to measure (off, on).")
flags.DEFINE_integer("bench_steps", 5, "bench: timed steps per configuration after warm-up.")

import tfncsn.cli.export_flags  # noqa: F401
import tfncsn.cli.evaluate_flags  # noqa: F401
