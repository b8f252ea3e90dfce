"""Building blocks of the NCSN score network (Song & Ermon 2019, Appendix A;
docs/algorithms.md section 6).

All tensors are NHWC. Every block is called as `block(x, level)`, where `level`
is an int32 [N] index into the noise levels. A block built with
`num_levels=None` uses the unconditional InstanceNorm++ of NCSNv2 and ignores
`level`.

Three of the porting pitfalls of docs/algorithms.md section 6.3 are explicit options of the
blocks whose defaults follow the reference implementation (the fourth, PyTorch's draw of the
convolution biases, is `init_conv_biases`, applied by the networks):

* `count_padding` (5x5 average pool of the chained residual pooling): divide
  every window by 25, counting the zero padding, instead of by the number of
  in-image pixels (TensorFlow's "SAME" average pool);
* `align_corners` (resize of the multi-resolution fusion): bilinear resize
  that maps corner pixels onto corner pixels instead of the half-pixel
  convention of `tf.image.resize`;
* `unbiased_channel_variance` (InstanceNorm++): the variance of the channel
  means divides by C - 1 instead of C.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfncsn.models import ops


CONV_BIAS_INITS = ("zeros", "uniform")


def conv_initializer() -> keras.initializers.Initializer:
    """The default kernel initialiser of PyTorch's Conv2d: U(+-1/sqrt(fan_in)).

    The reference trains with it; Keras' Glorot default would be a fourth,
    silent, difference. Biases start at 0 unless `init_conv_biases` draws them.
    """
    return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")


def check_conv_bias_init(conv_bias_init: str) -> str:
    if conv_bias_init not in CONV_BIAS_INITS:
        raise ValueError(f"conv_bias_init must be one of {', '.join(CONV_BIAS_INITS)}, got "
                         f"'{conv_bias_init}'")
    return conv_bias_init


def init_conv_biases(model: keras.layers.Layer) -> None:
    """Draws the bias of every built convolution inside `model` from U(+-1/sqrt(fan_in)).

    PyTorch's Conv2d default for biases, the fan-in being the kernel's (kh * kw * C_in),
    the same bound as the kernel's. Draws from Keras's global seed, like the kernels.
    """
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            fan_in = 1
            for d in layer.kernel.shape[:-1]:
                fan_in *= int(d)
            bound = fan_in ** -0.5
            layer.bias.assign(keras.initializers.RandomUniform(-bound, bound)(layer.bias.shape))


def conv(filters: int, kernel_size: int = 3, dilation: int = 1, use_bias: bool = True,
         name: str | None = None) -> keras.layers.Conv2D:
    """A stride-1 'same' convolution (the reference's padding = dilation * (k - 1) / 2)."""
    return keras.layers.Conv2D(filters, kernel_size, padding="same", dilation_rate=dilation,
                               use_bias=use_bias, kernel_initializer=conv_initializer(),
                               name=name)


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
        self.norm1 = make_norm(self.num_levels, self.unbiased_channel_variance,
                                             "norm1")
        self.norm2 = make_norm(self.num_levels, self.unbiased_channel_variance,
                                             "norm2")
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
        self.norms = [make_norm(self.num_levels, self.unbiased_channel_variance,
                                              f"norm{i}")
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
        self.norms = [make_norm(self.num_levels, self.unbiased_channel_variance,
                                              f"norm{i}")
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
        self.norms = [make_norm(self.num_levels, self.unbiased_channel_variance,
                                              f"norm{i}")
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
