"""The pre-activation residual block of the RefineNets' encoder (paper Appendix A;
docs/algorithms.md section 6.2, step 2).

Called as `block(x, level)` on NHWC `x`, `level` an int32 [N] index into the noise levels;
built with `num_levels=None` it uses the unconditional InstanceNorm++ of NCSNv2 and ignores
`level`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfncsn.models import ops
from tfncsn.models.convolution import conv
from tfncsn.models.instance_norm import make_norm


@keras.saving.register_keras_serializable(package="tfncsn")
class ResidualBlock(keras.layers.Layer):
    """Pre-activation residual block: norm, ELU, conv, norm, ELU, conv, plus shortcut.

    Paper Appendix A; docs/algorithms.md section 6.2, step 2. Without `downsample` the first
    conv maps to `filters`; with it, the first conv keeps the input width, the
    second maps to `filters` and is followed by a 2x2 mean pool, and the
    shortcut is a 1x1 conv followed by a 2x2 mean pool. Otherwise the shortcut
    is the identity, unless the width changes or `conv_shortcut` is set: then
    it is a conv (3x3 with the block's dilation when dilation > 1, else 1x1).
    The reference gives the first block of its dilated stages 3 and 4 such a
    3x3 shortcut although they keep width and resolution.

    Args:
      filters: output channels.
      num_levels: noise levels of the conditional norms; None for NCSNv2's
        unconditional InstanceNorm++.
      downsample: halve H and W (conv then mean pool).
      dilation: dilation rate of the 3x3 convs.
      conv_shortcut: use a conv shortcut even when the width is unchanged.
      unbiased_channel_variance: see `CondInstanceNormPlusPlus`.

    Call arguments:
      x: float32 [N, H, W, C]; level: int32 [N].
    """

    def __init__(self, filters: int, num_levels: int | None, downsample: bool = False,
                 dilation: int = 1, conv_shortcut: bool = False,
                 unbiased_channel_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_levels = None if num_levels is None else int(num_levels)
        self.downsample = bool(downsample)
        self.dilation = int(dilation)
        self.conv_shortcut = bool(conv_shortcut)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)
        self.norm1 = make_norm(self.num_levels, self.unbiased_channel_variance, "norm1")
        self.norm2 = make_norm(self.num_levels, self.unbiased_channel_variance, "norm2")
        self.conv2 = conv(self.filters, dilation=self.dilation, name="conv2")
        self.conv1 = None  # Its width depends on the input width: made in build().
        self.shortcut = None

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        width1 = in_channels if self.downsample else self.filters
        self.conv1 = conv(width1, dilation=self.dilation, name="conv1")
        if self.downsample:
            self.shortcut = conv(self.filters, kernel_size=1, name="shortcut")
        elif self.conv_shortcut or in_channels != self.filters:
            kernel = 3 if self.dilation > 1 else 1
            self.shortcut = conv(self.filters, kernel_size=kernel, dilation=self.dilation,
                                 name="shortcut")
        inner_shape = (*input_shape[:-1], width1)
        self.norm1.build(input_shape)
        self.conv1.build(input_shape)
        self.norm2.build(inner_shape)
        self.conv2.build(inner_shape)
        if self.shortcut is not None:
            self.shortcut.build(input_shape)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.downsample:
            height, width = height // 2, width // 2
        return (batch, height, width, self.filters)

    def call(self, x, level):
        h = self.conv1(tf.nn.elu(self.norm1(x, level)))
        h = self.conv2(tf.nn.elu(self.norm2(h, level)))
        skip = x if self.shortcut is None else self.shortcut(x)
        if self.downsample:
            h, skip = ops.mean_pool_2x2(h), ops.mean_pool_2x2(skip)
        return skip + h

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, num_levels=self.num_levels,
                      downsample=self.downsample, dilation=self.dilation,
                      conv_shortcut=self.conv_shortcut,
                      unbiased_channel_variance=self.unbiased_channel_variance)
        return config
