"""What `tfncsn evaluate` measures and how: the evaluation settings, declared once.

Each `setting` is also a flag of `tfncsn evaluate` of the same name (derived by
tfncsn/cli/flags.py). No TensorFlow here, so the CLI checks these before loading it.
"""

from __future__ import annotations

import dataclasses
import os

from tfncsn.config import ConfigError, check_settings, setting

METRICS = ("heldout", "offline", "inception", "neighbours", "likelihood")
AUTO_METRICS = ("heldout", "offline", "inception", "neighbours")  # likelihood: named only.
LIKELIHOOD_PROBES = ("rademacher", "gaussian", "exact")  # tfncsn.likelihood.PROBES.
# How the likelihood ODE scores a sigma between the trained levels (tfncsn.sampling.score_source).
LIKELIHOOD_LEVELS = ("continuous", "nearest")
WEIGHTS_ENV = "TFNCSN_INCEPTION_WEIGHTS"
CACHE_ENV = "TFNCSN_CACHE_DIR"
MIN_SAMPLES = 10  # The Inception Score's 10 splits; also enough for k-NN precision/recall.
DENSITY_K = 5  # Naeem et al. (2020).


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """The metrics to run and their parameters (docs/evaluation.md).

    `num_samples` is how many samples to draw, or with `samples` (a file) how many of
    the file's to use (None: all of them); `seed` fixes the sampler's draws.
    """

    eval_metrics: tuple[str, ...] = setting(
        ("auto",), "evaluate: any of heldout, offline, inception, neighbours, likelihood; auto: "
        "all that apply to the dataset except likelihood (inception only when its weights are "
        "found). A metric named here that cannot run is an error.")
    inception_weights: str | None = setting(
        None, "evaluate: Keras InceptionV3 ImageNet weights with the top "
        "(inception_v3_weights_tf_dim_ordering_tf_kernels.h5) for FID/IS; else "
        f"${WEIGHTS_ENV}, else Keras's copy in ~/.keras/models.")
    reference_stats: str | None = setting(
        None, "evaluate: Inception statistics (.npz with mu, sigma) to compute FID against, "
        "instead of the dataset's training split.")
    reference_examples: int = setting(
        0, "evaluate: training images used for the reference statistics and features "
        "(0: the whole training split).", minimum=0)
    cache_dir: str | None = setting(
        None, "evaluate: where the offline classifier and Inception reference statistics are "
        f"kept (default ${CACHE_ENV}, else ~/.cache/tfncsn).")
    samples: str | None = setting(
        None, "evaluate: samples to evaluate (.npy, or .npz with 'samples' as `tfncsn sample` "
        "writes) instead of drawing --num_samples.")
    eval_batch_size: int = setting(250, "evaluate: batch size of sampling and scoring.",
                                   minimum=1)
    heldout_examples: int = setting(
        1000, "evaluate: test examples of the held-out DSM loss (0: the whole test split); "
        "each is scored at every noise level.", minimum=0)
    heldout_seed: int = setting(0, "evaluate: seed of the held-out loss's fixed noise.")
    neighbours_k: int = setting(5, "evaluate: nearest training images shown per sample.",
                                minimum=1)
    precision_recall_k: int = setting(3, "evaluate: k of the k-NN precision and recall.",
                                      minimum=1)
    likelihood_examples: int = setting(
        100, "evaluate: test examples of the likelihood (bits/dim through the probability-flow "
        "ODE; 0: the whole test split).", minimum=0)
    likelihood_probe: str = setting(
        "rademacher", "evaluate: Hutchinson probes of the likelihood's divergence (exact: the "
        "trace from one backward pass per dimension, at most 64).", choices=LIKELIHOOD_PROBES)
    likelihood_probes: int = setting(1, "evaluate: Hutchinson probes per example, averaged.",
                                     minimum=1)
    likelihood_rtol: float = setting(1e-5, "evaluate: relative tolerance of the likelihood's "
                                     "RK45 solver.")
    likelihood_atol: float = setting(1e-5, "evaluate: absolute tolerance of the likelihood's "
                                     "RK45 solver.")
    likelihood_seed: int = setting(0, "evaluate: seed of the likelihood's probes and "
                                   "dequantisation noise.")
    likelihood_levels: str = setting(
        "continuous", "evaluate: how the likelihood's ODE scores a sigma between the trained "
        "levels. continuous: the model's own score at that sigma (a model that accepts any "
        "sigma); nearest: the score at the trained level nearest in log sigma, as the "
        "score-SDE code does for models trained at discrete levels (any model).",
        choices=LIKELIHOOD_LEVELS)
    num_samples: int | None = 64
    seed: int = 0
    keep_every: int = 0  # States kept every this many steps; 0: about 10 frames.

    def __post_init__(self):
        object.__setattr__(self, "eval_metrics", tuple(n.strip() for n in self.eval_metrics
                                                       if n.strip()))
        unknown = sorted(set(self.eval_metrics) - set(METRICS) - {"auto"})
        if unknown:
            raise ConfigError(f"unknown eval_metrics {', '.join(unknown)}; use auto or any of "
                              f"{', '.join(METRICS)}")
        check_settings(self)
        if not (self.likelihood_rtol > 0 and self.likelihood_atol > 0):
            raise ConfigError(f"likelihood_rtol and likelihood_atol must be positive, got "
                              f"{self.likelihood_rtol} and {self.likelihood_atol}")
        if not self.needs_samples or self.samples:
            return
        if self.num_samples is None or self.num_samples < MIN_SAMPLES:
            raise ConfigError(f"num_samples must be at least {MIN_SAMPLES}, got "
                              f"{self.num_samples}")
        if self.precision_recall_k >= self.num_samples:
            raise ConfigError(f"precision_recall_k={self.precision_recall_k} needs more than "
                              f"that many samples, got num_samples={self.num_samples}")

    @property
    def metrics(self) -> list[str]:
        """The metrics asked for, in the order they run; all of them for auto."""
        if self.explicit:
            return [m for m in METRICS if m in self.eval_metrics]
        return list(AUTO_METRICS)

    @property
    def explicit(self) -> bool:
        """True when the metrics were named (a named metric that cannot run is an error)."""
        return self.eval_metrics not in ((), ("auto",))

    @property
    def needs_samples(self) -> bool:
        return bool(set(self.metrics) - {"heldout", "likelihood"})  # These two need none.

    def resolved_cache_dir(self) -> str:
        if self.cache_dir:
            return self.cache_dir
        if os.environ.get(CACHE_ENV):
            return os.environ[CACHE_ENV]
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        return os.path.join(base, "tfncsn")
