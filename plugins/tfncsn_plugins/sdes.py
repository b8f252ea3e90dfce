"""Built-in SDEs (group `tfncsn.sdes`) of Song et al. (2021), Sec. 3.4 and Appendix B, with the
score_sde code's conventions (docs/algorithms.md section 11):

    ve      variance exploding: sigma(t) = sigma_min (sigma_max / sigma_min)^t, NCSN's SDE
    vp      variance preserving: beta(t) linear from beta_min to beta_max, DDPM's SDE
    subvp   sub-VP: the VP drift with a smaller diffusion, std(t) = 1 - e^{-B(t)}
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from tfncsn.sdes import SDE, SDEError


def ve_ancestral_step(sigma_from: tf.Tensor, sigma_to: tf.Tensor
                      ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """score_sde's VE ancestral step from sigma_i to sigma_{i-1} as (A, B, C) of
    x <- A x + B s + C z: A = 1, B = sigma_i^2 - sigma_{i-1}^2 and
    C = sqrt(sigma_{i-1}^2 B / sigma_i^2) (also on NCSN's levels, which discretise this SDE)."""
    var_from, var_to = tf.square(sigma_from), tf.square(sigma_to)
    drop = var_from - var_to
    return tf.ones_like(drop), drop, tf.sqrt(var_to * drop / var_from)


class VarianceExploding(SDE):
    """dx = sigma(t) sqrt(2 ln(sigma_max / sigma_min)) dw; x_t | x0 ~ N(x0, sigma(t)^2 I)
    (the sigma_min^2 offset omitted, as in score_sde); prior N(0, sigma_max^2 I)."""

    sample_eps = 1e-5
    has_ancestral = True

    def __init__(self, options, sigma_max: float, sigma_min: float):
        if not sigma_max > sigma_min > 0:
            raise SDEError(f"the ve SDE needs sigma_max > sigma_min > 0, got {sigma_max} and "
                           f"{sigma_min}")
        super().__init__(options, sigma_max, sigma_min)

    @property
    def _log_ratio(self) -> float:
        return math.log(self.sigma_max / self.sigma_min)

    def sigma(self, t):
        return self.sigma_min * tf.exp(t * self._log_ratio)

    def drift_scale(self, t):
        return tf.zeros_like(t)

    def diffusion(self, t):
        return self.sigma(t) * math.sqrt(2.0 * self._log_ratio)

    def marginal(self, t):
        return tf.ones_like(t), self.sigma(t)

    def mean_scale_at_std(self, std):
        return tf.ones_like(std)

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def reverse_step(self, t_from, t_to):
        """NCSN's discretisation: c = 0, G^2 = sigma(t_from)^2 - sigma(t_to)^2."""
        drop = tf.square(self.sigma(t_from)) - tf.square(self.sigma(t_to))
        return tf.zeros_like(drop), tf.sqrt(drop)

    def ancestral_step(self, t_from, t_to):
        return ve_ancestral_step(self.sigma(t_from), self.sigma(t_to))


@dataclasses.dataclass(frozen=True)
class BetaOptions:
    """beta(t) = beta_min + t (beta_max - beta_min) (score_sde's defaults 0.1 and 20)."""

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self):
        if not 0 < self.beta_min < self.beta_max:
            raise ValueError(f"need 0 < beta_min < beta_max, got {self.beta_min} and "
                             f"{self.beta_max}")


class _LinearBeta(SDE):
    """The drift -1/2 beta(t) x shared by VP and sub-VP; B(t) = integral_0^t beta."""

    Options = BetaOptions
    sample_eps = 1e-3

    def beta(self, t):
        return self.options.beta_min + t * (self.options.beta_max - self.options.beta_min)

    def integrated_beta(self, t):
        return (self.options.beta_min * t
                + 0.5 * tf.square(t) * (self.options.beta_max - self.options.beta_min))

    def drift_scale(self, t):
        return -0.5 * self.beta(t)

    @property
    def prior_std(self) -> float:
        return 1.0


class VariancePreserving(_LinearBeta):
    """dx = -1/2 beta(t) x dt + sqrt(beta(t)) dw; x_t | x0 ~ N(e^{-B/2} x0, (1 - e^{-B}) I);
    prior N(0, I)."""

    has_ancestral = True

    def diffusion(self, t):
        return tf.sqrt(self.beta(t))

    def marginal(self, t):
        big_b = self.integrated_beta(t)
        return tf.exp(-0.5 * big_b), tf.sqrt(-tf.math.expm1(-big_b))

    def mean_scale_at_std(self, std):
        return tf.sqrt(1.0 - tf.square(std))

    def interval_beta(self, t_from, t_to):
        """DDPM's beta of the interval, 1 - m(t_from)^2 / m(t_to)^2 (about beta(t_from) dt)."""
        return -tf.math.expm1(self.integrated_beta(t_to) - self.integrated_beta(t_from))

    def reverse_step(self, t_from, t_to):
        """DDPM's discretisation: c = sqrt(1 - b) - 1, G = sqrt(b), b the interval's beta."""
        b = self.interval_beta(t_from, t_to)
        return tf.sqrt(1.0 - b) - 1.0, tf.sqrt(b)

    def ancestral_step(self, t_from, t_to):
        """DDPM's ancestral step (Ho et al. 2020, Alg. 2 with the score for -eps / std):
        x <- (x + b s) / sqrt(1 - b) + sqrt(b) z."""
        b = self.interval_beta(t_from, t_to)
        scale = tf.math.rsqrt(1.0 - b)
        return scale, b * scale, tf.sqrt(b)


class SubVariancePreserving(_LinearBeta):
    """dx = -1/2 beta(t) x dt + sqrt(beta(t) (1 - e^{-2 B(t)})) dw; mean e^{-B/2} x0, standard
    deviation 1 - e^{-B} (not its square root); prior N(0, I)."""

    def diffusion(self, t):
        return tf.sqrt(self.beta(t) * -tf.math.expm1(-2.0 * self.integrated_beta(t)))

    def marginal(self, t):
        big_b = self.integrated_beta(t)
        return tf.exp(-0.5 * big_b), -tf.math.expm1(-big_b)

    def mean_scale_at_std(self, std):
        return tf.sqrt(1.0 - std)
