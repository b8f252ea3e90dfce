"""The RefineNet cascade stage of the NCSN score networks (docs/algorithms.md section 6.2,
step 3) and its parts: residual conv units, multi-resolution fusion, chained residual pooling.

All tensors are NHWC. Every block is called as `block(x, level)`, where `level` is an int32
[N] index into the noise levels; built with `num_levels=None` a block uses the
unconditional InstanceNorm++ of NCSNv2 and ignores `level`.

Two of the porting pitfalls of docs/algorithms.md section 6.3 are options of these blocks
whose defaults follow the reference implementation (the others: `unbiased_channel_variance`
of InstanceNorm++, tfncsn/models/instance_norm.py, and the convolutions' initialisation,
tfncsn/models/convolution.py):

* `count_padding` (5x5 average pool of the chained residual pooling): divide
  every window by 25, counting the zero padding, instead of by the number of
  in-image pixels (TensorFlow's "SAME" average pool);
* `align_corners` (resize of the multi-resolution fusion): bilinear resize
  that maps corner pixels onto corner pixels instead of the half-pixel
  convention of `tf.image.resize`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfncsn.models import ops
from tfncsn.models.convolution import conv
from tfncsn.models.instance_norm import make_norm


@keras.saving.register_keras_serializable(package="tfncsn")
class ResidualConvUnit(keras.layers.Layer):
    """RefineNet residual conv unit (RCU): `num_blocks` x (x + 2 x [norm, ELU, 3x3 conv]).

    The convs have no bias and keep the input width. With `normalize=False`
    (NCSNv2) the norms are left out.

    Args:
      num_blocks: residual blocks in sequence (2 in the input adapters, 1 at
        the output of a refine block, 3 at the output of the last one).
      num_levels: see `ResidualBlock`.
      normalize: put an InstanceNorm++ before each ELU.
      num_stages: norm-ELU-conv stages per block.
      unbiased_channel_variance: see `CondInstanceNormPlusPlus`.

    Call arguments:
      x: float32 [N, H, W, C]; level: int32 [N].
    """

    def __init__(self, num_blocks: int, num_levels: int | None, normalize: bool = True,
                 num_stages: int = 2, unbiased_channel_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.num_blocks = int(num_blocks)
        self.num_levels = None if num_levels is None else int(num_levels)
        self.normalize = bool(normalize)
        self.num_stages = int(num_stages)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)
        count = self.num_blocks * self.num_stages
        self.norms = [make_norm(self.num_levels, self.unbiased_channel_variance, f"norm{i}")
                      for i in range(count)] if self.normalize else []
        self.convs = []

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.convs = [conv(channels, use_bias=False, name=f"conv{i}")
                      for i in range(self.num_blocks * self.num_stages)]
        for layer in [*self.norms, *self.convs]:
            layer.build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, level):
        stage = 0
        for _ in range(self.num_blocks):
            h = x
            for _ in range(self.num_stages):
                if self.normalize:
                    h = self.norms[stage](h, level)
                h = self.convs[stage](tf.nn.elu(h))
                stage += 1
            x = x + h
        return x

    def get_config(self):
        config = super().get_config()
        config.update(num_blocks=self.num_blocks, num_levels=self.num_levels,
                      normalize=self.normalize, num_stages=self.num_stages,
                      unbiased_channel_variance=self.unbiased_channel_variance)
        return config


@keras.saving.register_keras_serializable(package="tfncsn")
class MultiResolutionFusion(keras.layers.Layer):
    """RefineNet multi-resolution fusion: sum_i resize(conv3x3(norm(x_i))).

    Every input goes through its own norm and biased 3x3 conv to `filters`,
    is resized bilinearly to the spatial size of the first input (the
    highest-resolution one) and the results are summed.

    Args:
      filters: output channels.
      num_inputs: number of inputs.
      num_levels: see `ResidualBlock`.
      normalize: norm before each conv (False in NCSNv2).
      align_corners: see `ops.resize_bilinear`.
      unbiased_channel_variance: see `CondInstanceNormPlusPlus`.

    Call arguments:
      xs: list of `num_inputs` float32 [N, H_i, W_i, C_i]; level: int32 [N].
    """

    def __init__(self, filters: int, num_inputs: int, num_levels: int | None,
                 normalize: bool = True, align_corners: bool = True,
                 unbiased_channel_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_inputs = int(num_inputs)
        self.num_levels = None if num_levels is None else int(num_levels)
        self.normalize = bool(normalize)
        self.align_corners = bool(align_corners)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)
        self.norms = [make_norm(self.num_levels, self.unbiased_channel_variance, f"norm{i}")
                      for i in range(self.num_inputs)] if self.normalize else []
        self.convs = [conv(self.filters, name=f"conv{i}") for i in range(self.num_inputs)]

    def build(self, input_shape):
        for i, shape in enumerate(input_shape):
            if self.normalize:
                self.norms[i].build(shape)
            self.convs[i].build(shape)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.filters)

    def call(self, xs, level):
        size = (xs[0].shape[1], xs[0].shape[2])
        total = 0.0
        for i, x in enumerate(xs):
            h = self.norms[i](x, level) if self.normalize else x
            total = total + ops.resize_bilinear(self.convs[i](h), size, self.align_corners)
        return total

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, num_inputs=self.num_inputs,
                      num_levels=self.num_levels, normalize=self.normalize,
                      align_corners=self.align_corners,
                      unbiased_channel_variance=self.unbiased_channel_variance)
        return config


@keras.saving.register_keras_serializable(package="tfncsn")
class ChainedResidualPooling(keras.layers.Layer):
    """RefineNet chained residual pooling: x = ELU(x); then per stage
    path = conv3x3(pool5x5(norm(path))), x = x + path.

    The convs have no bias and keep the width.

    Args:
      num_levels: see `ResidualBlock`.
      normalize: norm before each pool (False in NCSNv2).
      pool: "avg" (NCSN) or "max" (NCSNv2), 5x5, stride 1.
      count_padding: see `ops.avg_pool_5x5` (only for "avg").
      num_stages: number of pooling stages.
      unbiased_channel_variance: see `CondInstanceNormPlusPlus`.

    Call arguments:
      x: float32 [N, H, W, C]; level: int32 [N].
    """

    def __init__(self, num_levels: int | None, normalize: bool = True, pool: str = "avg",
                 count_padding: bool = True, num_stages: int = 2,
                 unbiased_channel_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.num_levels = None if num_levels is None else int(num_levels)
        self.normalize = bool(normalize)
        self.pool = pool
        self.count_padding = bool(count_padding)
        self.num_stages = int(num_stages)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)
        self.norms = [make_norm(self.num_levels, self.unbiased_channel_variance, f"norm{i}")
                      for i in range(self.num_stages)] if self.normalize else []
        self.convs = []

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.convs = [conv(channels, use_bias=False, name=f"conv{i}")
                      for i in range(self.num_stages)]
        for layer in [*self.norms, *self.convs]:
            layer.build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _pool(self, x):
        if self.pool == "max":
            return ops.max_pool_5x5(x)
        return ops.avg_pool_5x5(x, self.count_padding)

    def call(self, x, level):
        x = tf.nn.elu(x)
        path = x
        for i in range(self.num_stages):
            if self.normalize:
                path = self.norms[i](path, level)
            path = self.convs[i](self._pool(path))
            x = x + path
        return x

    def get_config(self):
        config = super().get_config()
        config.update(num_levels=self.num_levels, normalize=self.normalize, pool=self.pool,
                      count_padding=self.count_padding, num_stages=self.num_stages,
                      unbiased_channel_variance=self.unbiased_channel_variance)
        return config


@keras.saving.register_keras_serializable(package="tfncsn")
class RefineBlock(keras.layers.Layer):
    """One RefineNet cascade stage (docs/algorithms.md section 6.2, step 3).

    Each input goes through its own 2-block RCU; several inputs are fused by
    `MultiResolutionFusion` to `filters` at the first input's size (a single
    input must already have `filters` channels); then chained residual pooling
    and an output RCU of 1 block (3 when `last`).

    Args:
      filters: output channels.
      num_inputs: 1 for the coarsest stage, 2 otherwise.
      num_levels: see `ResidualBlock`.
      last: the final refine block (3 output RCU blocks).
      normalize: norms inside the block (True in NCSN, False in NCSNv2).
      pool, count_padding: see `ChainedResidualPooling`.
      align_corners: see `ops.resize_bilinear`.
      unbiased_channel_variance: see `CondInstanceNormPlusPlus`.

    Call arguments:
      xs: list of `num_inputs` float32 NHWC tensors, highest resolution first;
      level: int32 [N].
    """

    def __init__(self, filters: int, num_inputs: int, num_levels: int | None,
                 last: bool = False, normalize: bool = True, pool: str = "avg",
                 count_padding: bool = True, align_corners: bool = True,
                 unbiased_channel_variance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_inputs = int(num_inputs)
        self.num_levels = None if num_levels is None else int(num_levels)
        self.last = bool(last)
        self.normalize = bool(normalize)
        self.pool = pool
        self.count_padding = bool(count_padding)
        self.align_corners = bool(align_corners)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)
        norm_args = dict(num_levels=self.num_levels, normalize=self.normalize,
                         unbiased_channel_variance=self.unbiased_channel_variance)
        self.adapters = [ResidualConvUnit(2, name=f"adapter{i}", **norm_args)
                         for i in range(self.num_inputs)]
        self.fusion = None
        if self.num_inputs > 1:
            self.fusion = MultiResolutionFusion(self.filters, self.num_inputs,
                                                align_corners=self.align_corners,
                                                name="fusion", **norm_args)
        self.pooling = ChainedResidualPooling(pool=self.pool, count_padding=self.count_padding,
                                              name="pooling", **norm_args)
        self.output_unit = ResidualConvUnit(3 if self.last else 1, name="output_unit",
                                            **norm_args)

    def build(self, input_shape):
        for adapter, shape in zip(self.adapters, input_shape):
            adapter.build(shape)
        fused_shape = tuple(input_shape[0])
        if self.fusion is not None:
            self.fusion.build(input_shape)
            fused_shape = self.fusion.compute_output_shape(input_shape)
        self.pooling.build(fused_shape)
        self.output_unit.build(fused_shape)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.filters)

    def call(self, xs, level):
        hs = [adapter(x, level) for adapter, x in zip(self.adapters, xs)]
        h = hs[0] if self.fusion is None else self.fusion(hs, level)
        return self.output_unit(self.pooling(h, level), level)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, num_inputs=self.num_inputs,
                      num_levels=self.num_levels, last=self.last, normalize=self.normalize,
                      pool=self.pool, count_padding=self.count_padding,
                      align_corners=self.align_corners,
                      unbiased_channel_variance=self.unbiased_channel_variance)
        return config
