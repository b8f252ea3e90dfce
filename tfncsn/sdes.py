"""The SDE contract: a forward diffusion dx = f(x, t) dt + g(t) dw on t in [0, 1] (Song et al.
2021, "Score-Based Generative Modeling through Stochastic Differential Equations", Sec. 3).

A plugin of the entry-point group `tfncsn.sdes` is a subclass of `SDE`. Every SDE here has a
linear drift f(x, t) = a(t) x and Gaussian marginals x_t | x_0 ~ N(m(t) x_0, std(t)^2 I), so
it states a handful of scalar functions of t and everything else (reverse diffusion, the
probability-flow drift, ancestral steps, the prior's density) is derived
here, once. docs/algorithms.md section 11 has the formulas, defaults and their sources.

The functions take and return TensorFlow tensors of the dtype they are given (float32 in the
training graph, float64 when a sampler precomputes its coefficients), so one formula serves
both. An SDE holds only numbers: it is pure.

The noise level a score model sees is the marginal's standard deviation std(t) (for VE, sigma(t)):
a network that accepts any sigma (`continuous_sigma`) scores x_t as `score_at_sigma(x_t, std(t))`.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar, Callable

import numpy as np
import tensorflow as tf

LN_2PI = math.log(2.0 * math.pi)


class SDEError(ValueError):
    """An SDE plugin's options are wrong, or it cannot do what was asked; one line for users."""


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """An SDE without options."""


class SDE(abc.ABC):
    """Base class of every SDE plugin (group `tfncsn.sdes`).

    Class attributes:
      Options: a frozen dataclass of the SDE's options, every field with a default.
      sample_eps: the smallest t samplers reach (score_sde's sampling eps).
      has_ancestral: the SDE has an ancestral (DDPM-type) discretisation.

    `sigma_max` and `sigma_min` are the run's noise-level range (`--sigma_max`, `--sigma_min`):
    the VE SDE's range; SDEs of their own scale ignore them.
    """

    Options: ClassVar[type] = NoOptions
    sample_eps: ClassVar[float] = 1e-5
    has_ancestral: ClassVar[bool] = False
    name: str = ""  # Set by `build`: the registered name.

    def __init__(self, options: Any, sigma_max: float, sigma_min: float):
        self.options = options
        self.sigma_max = float(sigma_max)
        self.sigma_min = float(sigma_min)

    # What a plugin states ------------------------------------------------------------
    @abc.abstractmethod
    def drift_scale(self, t: tf.Tensor) -> tf.Tensor:
        """a(t) of the linear drift f(x, t) = a(t) x."""

    @abc.abstractmethod
    def diffusion(self, t: tf.Tensor) -> tf.Tensor:
        """g(t)."""

    @abc.abstractmethod
    def marginal(self, t: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(m(t), std(t)) of x_t | x_0 ~ N(m(t) x_0, std(t)^2 I)."""

    @abc.abstractmethod
    def mean_scale_at_std(self, std: tf.Tensor) -> tf.Tensor:
        """m as a function of std (std(t) is increasing, so t, std and m determine each other)."""

    @property
    @abc.abstractmethod
    def prior_std(self) -> float:
        """The prior N(0, prior_std^2 I) that x_1 is drawn from."""

    # Derived ------------------------------------------------------------------------
    def prior_log_prob(self, z: tf.Tensor) -> tf.Tensor:
        """log N(z; 0, prior_std^2 I) per example, summed over all but the first axis."""
        z = tf.convert_to_tensor(z)
        dims = tf.cast(tf.reduce_prod(tf.shape(z)[1:]), z.dtype)
        var = tf.cast(self.prior_std ** 2, z.dtype)
        squares = tf.reduce_sum(tf.reshape(tf.square(z), [tf.shape(z)[0], -1]), axis=1)
        return -0.5 * dims * (LN_2PI + tf.math.log(var)) - 0.5 * squares / var

    def reverse_step(self, t_from, t_to) -> tuple[tf.Tensor, tf.Tensor]:
        """(c, G) of the forward step from t_to up to t_from, x_from = (1 + c) x_to + G z,
        whose reverse-diffusion step is x <- (1 - c) x + G^2 s(x, t_from) + G z (Song et al.
        2021, eq. 46). Default Euler-Maruyama: c = a(t_from) dt, G = g(t_from) sqrt(dt)."""
        dt = t_from - t_to
        return self.drift_scale(t_from) * dt, self.diffusion(t_from) * tf.sqrt(dt)

    def integrals(self, t_from, t_to) -> tuple[tf.Tensor, tf.Tensor]:
        """(int a dt, int g^2 dt) over [t_to, t_from] by Simpson's rule (error O(dt^5)): the
        probability-flow ODE's coefficients over one step, x(t_to) ~ x - (int a) x + 1/2
        (int g^2) s, which keep Heun second order."""
        middle = 0.5 * (t_from + t_to)

        def simpson(f):
            return (t_from - t_to) / 6.0 * (f(t_to) + 4.0 * f(middle) + f(t_from))

        return simpson(self.drift_scale), simpson(lambda t: tf.square(self.diffusion(t)))

    def ancestral_step(self, t_from, t_to) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(A, B, C) of the ancestral step x <- A x + B s(x, t_from) + C z."""
        raise SDEError(f"the {self.name or type(self).__name__} SDE has no ancestral "
                       "discretisation; use the pc or ode sampler")

    def sigma_grid(self, t: np.ndarray) -> np.ndarray:
        """std(t) at float64 times t, as float64 NumPy (the score model's noise input)."""
        return on_grid(lambda times: self.marginal(times)[1], t)


# The helpers below are written once for every SDE.


def on_grid(fn: Callable[..., Any], *times) -> Any:
    """fn(*times) with the times as float64 tensors, evaluated eagerly even while a graph is
    traced (a sampler built inside the export's trace), as float64 NumPy arrays."""
    with tf.init_scope():
        out = fn(*(tf.constant(np.asarray(t, np.float64)) for t in times))
        return tf.nest.map_structure(np.asarray, out)


def expand(values: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """A [N] tensor reshaped to broadcast against x [N, ...]."""
    return tf.reshape(values, tf.concat([[-1], tf.ones([tf.rank(x) - 1], tf.int32)], 0))


def perturb(sde: SDE, x0: tf.Tensor, t: tf.Tensor, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(x_t, std(t)) with x_t = m(t) x0 + std(t) z: a draw of the marginal given x0."""
    mean_scale, std = sde.marginal(t)
    return expand(mean_scale, x0) * x0 + expand(std, x0) * z, std


def score_from_ve(ve_score: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], sde: SDE,
                  x: tf.Tensor, std: tf.Tensor) -> tf.Tensor:
    """The score of x_t = m x0 + std z from the score of x0 + sigma z (the VE perturbation):
    grad log p_t(x) = ve_score(x / m, std / m) / m. Lets an exact score written for VE data
    (`tfncsn.interfaces.HasExactScore`) serve every SDE."""
    mean_scale = sde.mean_scale_at_std(std)
    m = expand(mean_scale, x)
    return ve_score(x / m, std / mean_scale) / m


def ve_form(sde: SDE | None, sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(std, m) of the run's marginal where std / m = sigma, for float64 VE-form `sigmas`
    (VE and NCSN's levels: (sigma, 1)). Found by bisection in t; std / m grows with t."""
    sigmas = np.asarray(sigmas, np.float64)
    if sde is None or np.all(on_grid(sde.mean_scale_at_std, sigmas) == 1.0):
        return sigmas, np.ones_like(sigmas)  # VE: sigma is the std (and extrapolates past t = 1).
    low, high = np.zeros_like(sigmas), np.ones_like(sigmas)
    for _ in range(60):
        middle = 0.5 * (low + high)
        mean_scale, std = on_grid(sde.marginal, middle)
        below = std / mean_scale < sigmas
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    mean_scale, std = on_grid(sde.marginal, 0.5 * (low + high))
    return std, mean_scale


def time_grid(sde: SDE, num_points: int, t_min: float | None = None) -> np.ndarray:
    """num_points float64 times from 1 down to t_min (default the SDE's sample_eps)."""
    return np.linspace(1.0, sde.sample_eps if t_min is None else t_min, num_points)


def build(cls: type, options: dict[str, Any], sigma_max: float, sigma_min: float,
          name: str = "") -> SDE:
    """SDE `cls` with `options` (a dict of its Options fields); bad options raise SDEError."""
    try:
        typed = cls.Options(**options)
    except (TypeError, ValueError) as e:
        raise SDEError(f"sde '{name or cls.__name__}' rejected options {options}: {e}") from None
    sde = cls(typed, sigma_max, sigma_min)
    sde.name = name
    return sde


def check_sde_class(obj: Any, name: str) -> None:
    """The registry's contract for group `tfncsn.sdes`: a complete `SDE` subclass whose options
    all have defaults; raises a one-line SDEError."""
    where = f"sde plugin '{name}'"
    if not (isinstance(obj, type) and issubclass(obj, SDE)):
        raise SDEError(f"{where} is {getattr(obj, '__name__', obj)!r}, not a subclass of "
                       "tfncsn.sdes.SDE; see docs/writing-a-plugin.md")
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        raise SDEError(f"{where} ({obj.__name__}) does not define {', '.join(missing)}")
    if not dataclasses.is_dataclass(obj.Options):
        raise SDEError(f"{where}: Options must be a dataclass, got {obj.Options!r}")
    no_default = [f.name for f in dataclasses.fields(obj.Options)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if no_default:
        raise SDEError(f"{where}: every option needs a default; {', '.join(no_default)} has none")
    check_sde_trial(obj, where)


# The arguments an SDE plugin is tried with when loaded: the toy's VE range, its default options.
TRIAL_RANGE = {"sigma_max": 20.0, "sigma_min": 0.01}


def check_sde_trial(cls: type, where: str) -> None:
    """Builds `cls` with its default options on `TRIAL_RANGE` and checks, at five times from
    its sampling eps to 1, what every sampler relies on: finite coefficients, 0 < m <= 1, std
    > 0 and increasing, std / m increasing, mean_scale_at_std(std) = m, a positive prior std.
    Raises a one-line SDEError."""
    args = ", ".join(f"{k}={v:g}" for k, v in TRIAL_RANGE.items())
    try:
        sde = cls(cls.Options(), **TRIAL_RANGE)
        t = np.linspace(cls.sample_eps, 1.0, 5)
        mean_scale, std = on_grid(sde.marginal, t)
        values = {"m": mean_scale, "std": std, "a": on_grid(sde.drift_scale, t),
                  "g": on_grid(sde.diffusion, t), "m(std)": on_grid(sde.mean_scale_at_std, std)}
        prior_std = float(sde.prior_std)
    except Exception as e:  # noqa: BLE001 -- any failure of the plugin is its error line.
        raise SDEError(f"{where} failed with {args}: {type(e).__name__}: {e}") from None
    problems = [f"{name} is not finite" for name, v in values.items()
                if not np.all(np.isfinite(v))]
    if not np.all((mean_scale > 0) & (mean_scale <= 1 + 1e-12)):
        problems.append(f"m(t) = {np.round(mean_scale, 6).tolist()} is not in (0, 1]")
    if not (np.all(std > 0) and np.all(np.diff(std) > 0) and np.all(np.diff(std / mean_scale) > 0)):
        problems.append(f"std(t) = {np.round(std, 6).tolist()} is not positive and increasing "
                        "(with std / m)")
    if not np.allclose(values["m(std)"], mean_scale, rtol=1e-6):
        problems.append("mean_scale_at_std(std(t)) differs from m(t)")
    if not prior_std > 0:
        problems.append(f"prior_std is {prior_std}")
    if problems:
        raise SDEError(f"{where} with {args} at t = {np.round(t, 4).tolist()}: "
                       + "; ".join(problems))
