"""InstanceNorm++ as Keras layers (paper Appendix A.1; docs/algorithms.md section 6.1): the
noise-conditional one of NCSN, CondInstanceNorm++, and the unconditional one of NCSNv2.

Both are called as `norm(x, level)` on NHWC `x`, `level` an int32 [N] index into the noise
levels (ignored by the unconditional one). The arithmetic is `ops.instance_norm_plus_plus`;
its `unbiased_channel_variance` option is a porting pitfall of docs/algorithms.md section 6.3:
the variance of the channel means divides by C - 1 (the reference) instead of C.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfncsn.models import ops


def _scale_initializer() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=1.0, stddev=0.02)


@keras.saving.register_keras_serializable(package="tfncsn")
class CondInstanceNormPlusPlus(keras.layers.Layer):
    """Conditional instance normalisation ++ (paper Appendix A.1; docs/algorithms.md section 6.1).

    `ops.instance_norm_plus_plus` with gamma, alpha, beta taken from row i of a
    [num_levels, C] table for an example at noise level i. gamma and alpha are
    initialised N(1, 0.02) and beta 0, one row per noise level. (The paper
    writes the alpha term outside gamma; the reference code, followed here,
    puts it inside.)

    Args:
      num_levels: number of noise levels (rows of gamma, alpha, beta).
      unbiased_channel_variance: divide the variance of the channel means by
        C - 1 (reference) instead of C.

    Call arguments:
      x: float32 [N, H, W, C]; level: int32 [N].
    """

    def __init__(self, num_levels: int, unbiased_channel_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.num_levels = int(num_levels)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)

    def build(self, input_shape):
        shape = (self.num_levels, int(input_shape[-1]))
        self.gamma = self.add_weight(shape=shape, initializer=_scale_initializer(), name="gamma")
        self.alpha = self.add_weight(shape=shape, initializer=_scale_initializer(), name="alpha")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")

    def call(self, x, level):
        gamma, alpha, beta = (tf.gather(table, level)
                              for table in (self.gamma, self.alpha, self.beta))
        return ops.instance_norm_plus_plus(x, gamma, alpha, beta, self.unbiased_channel_variance)

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels,
                      unbiased_channel_variance=self.unbiased_channel_variance)
        return config


@keras.saving.register_keras_serializable(package="tfncsn")
class InstanceNormPlusPlus(keras.layers.Layer):
    """InstanceNorm++ without level conditioning (NCSNv2, Song & Ermon 2020).

    `ops.instance_norm_plus_plus` with per-channel gamma, alpha ~ N(1, 0.02) and
    beta = 0; `level` is accepted and ignored so it can stand in for
    `CondInstanceNormPlusPlus`.

    Args:
      unbiased_channel_variance: as in `CondInstanceNormPlusPlus`.
    """

    def __init__(self, unbiased_channel_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)

    def build(self, input_shape):
        shape = (int(input_shape[-1]),)
        self.gamma = self.add_weight(shape=shape, initializer=_scale_initializer(), name="gamma")
        self.alpha = self.add_weight(shape=shape, initializer=_scale_initializer(), name="alpha")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")

    def call(self, x, level=None):
        return ops.instance_norm_plus_plus(x, self.gamma, self.alpha, self.beta,
                                           self.unbiased_channel_variance)

    def get_config(self):
        config = super().get_config()
        config.update(unbiased_channel_variance=self.unbiased_channel_variance)
        return config


def make_norm(num_levels: int | None, unbiased_channel_variance: bool,
              name: str) -> keras.layers.Layer:
    """CondInstanceNorm++ over `num_levels` levels, or InstanceNorm++ when None."""
    if num_levels is None:
        return InstanceNormPlusPlus(unbiased_channel_variance, name=name)
    return CondInstanceNormPlusPlus(num_levels, unbiased_channel_variance, name=name)
