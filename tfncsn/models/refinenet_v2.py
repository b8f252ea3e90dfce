"""NCSNv2's score network (Song & Ermon 2020, "Improved Techniques for Training Score-Based
Generative Models"): the NCSN RefineNet made unconditional, its output divided by sigma."""

from __future__ import annotations

from typing import Sequence

import keras

import tensorflow as tf

from tfncsn.models.refinenet import DilatedRefineNet


@keras.saving.register_keras_serializable(package="tfncsn")
class NCSNv2RefineNet(DilatedRefineNet):
    """s(x, level) = RefineNet(x) / sigma[level], the network of NCSNv2 (Technique 3).

    Same stages as `CondRefineNetDilated` (docs/algorithms.md section 6.2), with the changes
    of the NCSNv2 reference code: unconditional InstanceNorm++ in the residual
    stages and the head, no norms inside the refine blocks, max pooling in the
    chained residual pooling (`pool`), and the output divided by the noise
    level, so the network itself does not see `level`.

    Args:
      input_shape: (H, W, C) of one image, H and W even.
      sigmas: the noise levels, index 0 = largest.
      ngf: base width (NCSNv2: 128 for CIFAR-10).
      rescale_input: map x in [0, 1] to 2x - 1 first.
      pool: "max" (NCSNv2 reference) or "avg" in the chained residual pooling.
      pool_count_padding: for pool="avg", see `CondRefineNetDilated`.
      align_corners: see `CondRefineNetDilated`.
      unbiased_channel_variance: see `CondRefineNetDilated`.
      conv_bias_init: see `CondRefineNetDilated` (the NCSNv2 code also keeps PyTorch's
        default, uniform).

    Call arguments:
      x: float32 [N, H, W, C] in [0, 1]; level: int32 [N] indices into sigmas.

    Since the network does not see the level, `score_at_sigma(x, sigma)` evaluates
    the score at any sigma > 0 (`continuous_sigma`), as the SDE samplers' finer
    grids need.
    """

    continuous_sigma = True

    def __init__(self, *, input_shape: Sequence[int], sigmas: Sequence[float], ngf: int = 128,
                 rescale_input: bool = True, pool: str = "max", pool_count_padding: bool = True,
                 align_corners: bool = True, unbiased_channel_variance: bool = True,
                 conv_bias_init: str = "uniform", **kwargs):
        super().__init__(input_shape=input_shape, sigmas=sigmas, ngf=ngf, conditional=False,
                         refine_norms=False, pool=pool, scale_by_sigma=True,
                         rescale_input=rescale_input, pool_count_padding=pool_count_padding,
                         align_corners=align_corners,
                         unbiased_channel_variance=unbiased_channel_variance,
                         conv_bias_init=conv_bias_init, **kwargs)
        self.pool = pool

    def score_at_sigma(self, x, sigma, training=None):
        """s(x, sigma) = f(x) / sigma for float32 sigma [N] (any positive values); `training`
        is accepted for the continuous-time trainer (the network has no dropout)."""
        del training
        level = tf.zeros(tf.shape(x)[:1], tf.int32)  # Unconditional: the norms ignore it.
        return tf.cast(self.network(x, level), tf.float32) / sigma[:, None, None, None]

    def get_config(self):
        config = super().get_config()
        config.update(pool=self.pool)
        return config
