"""A noise-conditional U-Net for images, in the style of NCSN++ / DDPM++ (Song et al. 2021,
"Score-Based Generative Modeling through Stochastic Differential Equations") and of DDPM's
network (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"), at a small size.

The network sees the noise level through an embedding of log sigma and its output is divided
by sigma, so it can be evaluated at any sigma > 0 (`continuous_sigma`, `score_at_sigma`): the
discrete levels of NCSN, or the marginal standard deviation of a VE, VP or sub-VP SDE.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

EMBEDDINGS = ("fourier", "positional")
DOWNSAMPLES = ("conv", "avg")
FOURIER_SEED = 0  # The fixed random projection of the Fourier embedding (NumPy RandomState).
POSITIONAL_RANGE = 1000.0  # log sigma over the trained levels maps onto [0, 1000], as DDPM's t.
GROUP_NORM_EPSILON = 1e-6


def group_count(channels: int) -> int:
    """GroupNorm groups for `channels`: min(32, C // 4) as NCSN++, lowered to a divisor of C."""
    groups = max(1, min(32, channels // 4))
    while channels % groups:
        groups -= 1
    return groups


def _conv(filters: int, kernel_size: int = 3, strides: int = 1, small: bool = False,
          name: str | None = None) -> keras.layers.Conv2D:
    """A 'same' convolution, Glorot-uniform as score_sde's default_init; `small` draws the
    kernel at a variance scale of 1e-10 instead (score_sde's init_scale=0), for the last conv
    of each residual branch and of the head, so every branch starts close to the identity and
    the network's first output close to 0 (a score of 0 times sigma)."""
    init = (keras.initializers.VarianceScaling(1e-10, mode="fan_avg", distribution="uniform")
            if small else "glorot_uniform")
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                               kernel_initializer=init, name=name)


def _norm(channels: int, name: str) -> keras.layers.GroupNormalization:
    # Keras takes its statistics in float32 under a mixed policy too.
    return keras.layers.GroupNormalization(group_count(channels), epsilon=GROUP_NORM_EPSILON,
                                           name=name)


@keras.saving.register_keras_serializable(package="tfncsn")
class UNetResidualBlock(keras.layers.Layer):
    """DDPM's residual block with the noise embedding added per channel (Ho et al. 2020).

    GroupNorm, swish, 3x3 conv, + Dense(swish(embedding)) per channel, GroupNorm, swish,
    dropout, 3x3 conv; the shortcut is a 1x1 conv when the width changes. With
    `skip_rescale` the sum is divided by sqrt(2) (NCSN++).

    Call arguments:
      x: [N, H, W, in_channels]; embedding: [N, E]; training: enables dropout.
    """

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0,
                 skip_rescale: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.dropout_rate = float(dropout)
        self.skip_rescale = bool(skip_rescale)
        self.norm0 = _norm(self.in_channels, "norm0")
        self.conv0 = _conv(self.out_channels, name="conv0")
        self.embedding_proj = keras.layers.Dense(self.out_channels, name="embedding_proj")
        self.norm1 = _norm(self.out_channels, "norm1")
        self.dropout = keras.layers.Dropout(self.dropout_rate) if self.dropout_rate else None
        self.conv1 = _conv(self.out_channels, small=True, name="conv1")
        self.shortcut = (_conv(self.out_channels, 1, name="shortcut")
                         if self.in_channels != self.out_channels else None)

    def call(self, x, embedding, training=None):
        h = self.conv0(tf.nn.silu(self.norm0(x)))
        h = h + self.embedding_proj(tf.nn.silu(embedding))[:, None, None, :]
        h = tf.nn.silu(self.norm1(h))
        if self.dropout is not None:
            h = self.dropout(h, training=training)
        h = self.conv1(h)
        skip = x if self.shortcut is None else self.shortcut(x)
        out = skip + h
        return out * (1.0 / math.sqrt(2.0)) if self.skip_rescale else out

    def get_config(self):
        config = super().get_config()
        config.update(in_channels=self.in_channels, out_channels=self.out_channels,
                      dropout=self.dropout_rate, skip_rescale=self.skip_rescale)
        return config


@keras.saving.register_keras_serializable(package="tfncsn")
class UNetSelfAttention(keras.layers.Layer):
    """Single-head self-attention over the H x W positions, as DDPM's AttnBlock.

    GroupNorm, 1x1 convs to q, k, v, softmax(q k^T / sqrt(C)) over positions (in float32),
    weights times v, a 1x1 conv, added to the input (divided by sqrt(2) with
    `skip_rescale`). Needs static H, W, C.
    """

    def __init__(self, channels: int, skip_rescale: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.skip_rescale = bool(skip_rescale)
        self.norm = _norm(self.channels, "norm")
        self.query = _conv(self.channels, 1, name="query")
        self.key = _conv(self.channels, 1, name="key")
        self.value = _conv(self.channels, 1, name="value")
        self.out = _conv(self.channels, 1, small=True, name="out")

    def call(self, x):
        height, width, channels = (int(d) for d in x.shape[1:])
        h = self.norm(x)
        flat = lambda t: tf.reshape(t, [-1, height * width, channels])  # noqa: E731
        q, k, v = flat(self.query(h)), flat(self.key(h)), flat(self.value(h))
        logits = tf.matmul(tf.cast(q, tf.float32), tf.cast(k, tf.float32), transpose_b=True)
        weights = tf.nn.softmax(logits * channels ** -0.5, axis=-1)
        attended = tf.matmul(tf.cast(weights, v.dtype), v)
        out = x + self.out(tf.reshape(attended, [-1, height, width, channels]))
        return out * (1.0 / math.sqrt(2.0)) if self.skip_rescale else out

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, skip_rescale=self.skip_rescale)
        return config


def upsample_nearest_2x(x: tf.Tensor) -> tf.Tensor:
    """Nearest-neighbour 2x upsampling of NHWC `x` (static H, W, C): a tile and a reshape."""
    height, width, channels = (int(d) for d in x.shape[1:])
    tiled = tf.tile(x[:, :, None, :, None, :], [1, 1, 2, 1, 2, 1])
    return tf.reshape(tiled, [-1, 2 * height, 2 * width, channels])


@keras.saving.register_keras_serializable(package="tfncsn")
class NoiseConditionalUNet(keras.Model):
    """s(x, sigma) = U-Net(x, embed(log sigma)) / sigma: a small NCSN++ / DDPM++-style network.

    Song et al. 2021 (NCSN++ with scale_by_sigma; DDPM++ continuous, whose score is
    -eps / std) and Ho et al. 2020 (the U-Net): the network learns sigma times the score of
    x = m x0 + sigma z, which is O(1) at every noise level.

    x -> 2x - 1 (`rescale_input`) -> 3x3 conv to `channels` -> per resolution,
    `num_res_blocks` residual blocks at `channels * channel_mults[i]`, then (but at the last)
    a downsampling by 2 -> middle: residual block, self-attention (`attention`), residual
    block at the lowest resolution -> per resolution upwards, `num_res_blocks + 1` residual
    blocks, each on the concatenation with the matching down-path activation (DDPM's skip
    connections), then (but at the top) nearest 2x upsampling and a 3x3 conv -> GroupNorm,
    swish, 3x3 conv to the image channels -> cast to float32 -> divided by sigma.

    The noise embedding is `embedding_dim` sin/cos features of log sigma, then
    Dense(4 channels), swish, Dense(4 channels); each residual block adds a Dense of it per
    channel. "fourier" (NCSN++): Gaussian Fourier features, sin and cos of
    2 pi w_k log sigma with w_k ~ N(0, `fourier_scale`^2) drawn once from the fixed seed
    FOURIER_SEED (a constant, not a weight). "positional" (DDPM): the transformer's
    sinusoidal features of t = 1000 (log sigma - log sigma_min) / (log sigma_max -
    log sigma_min), the extremes taken from `sigmas` (t in [0, 1000] over the trained levels,
    as DDPM's timestep; other sigmas extrapolate).

    The defaults (0.60M parameters at 28x28x1, 213 MFLOP a forward pass) cost a little less per
    training step on a CPU than `refinenet` with ngf=16, the Fashion-MNIST main job's network.

    Args:
      input_shape: (H, W, C) of one image; H and W divisible by 2^(len(channel_mults) - 1).
      sigmas: the noise levels, index 0 = largest (`call` takes indices into them).
      channels: base width.
      channel_mults: width multiplier of each resolution; its length sets the number of
        resolutions (e.g. 28 -> 14 -> 7 for three).
      num_res_blocks: residual blocks per resolution on the way down (one more on the way up).
      attention: self-attention in the middle, at the lowest resolution.
      dropout: dropout rate inside the residual blocks (active with training=True).
      embedding: "fourier" or "positional" (above).
      embedding_dim: number of sin/cos features (even); None takes 2 `channels` (NCSN++).
      fourier_scale: standard deviation of the Fourier frequencies (NCSN++: 16).
      downsample: "conv" (3x3 stride-2 conv, DDPM) or "avg" (2x2 average pooling).
      skip_rescale: divide every residual sum by sqrt(2) (NCSN++).
      rescale_input: map x in [0, 1] to 2x - 1 first (as `refinenet`, `refinenet_v2`); set
        False when the data are already centred.

    Call arguments:
      x: float32 [N, H, W, C]; level: int32 [N] indices into sigmas.

    Returns:
      The estimated score, float32 [N, H, W, C], also under a mixed-precision policy.

    Example:
      >>> model = NoiseConditionalUNet(input_shape=(8, 8, 1), sigmas=[1.0, 0.1], channels=8)
      >>> model(tf.zeros([2, 8, 8, 1]), tf.constant([0, 1])).shape
      TensorShape([2, 8, 8, 1])
    """

    continuous_sigma = True

    def __init__(self, *, input_shape: Sequence[int], sigmas: Sequence[float],
                 channels: int = 24, channel_mults: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, attention: bool = True, dropout: float = 0.0,
                 embedding: str = "fourier", embedding_dim: int | None = None,
                 fourier_scale: float = 16.0, downsample: str = "conv",
                 skip_rescale: bool = True, rescale_input: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.data_shape = tuple(int(d) for d in input_shape)
        self.sigmas = [float(s) for s in sigmas]
        self.channels = int(channels)
        self.channel_mults = tuple(int(m) for m in channel_mults)
        self.num_res_blocks = int(num_res_blocks)
        self.attention = bool(attention)
        self.dropout = float(dropout)
        self.embedding = embedding
        self.embedding_dim = 2 * self.channels if embedding_dim is None else int(embedding_dim)
        self.fourier_scale = float(fourier_scale)
        self.downsample = downsample
        self.skip_rescale = bool(skip_rescale)
        self.rescale_input = bool(rescale_input)
        self._check()

        log_sigmas = np.log(self.sigmas)
        self._log_sigma_min = float(log_sigmas.min())
        span = float(log_sigmas.max() - log_sigmas.min())
        self._log_sigma_span = span if span > 0 else 1.0
        half = self.embedding_dim // 2
        if self.embedding == "fourier":  # Cycles per unit of log sigma.
            weights = np.random.RandomState(FOURIER_SEED).randn(half) * self.fourier_scale
            self._frequencies = (2 * np.pi * weights).astype(np.float32)
        else:  # DDPM's: from 1 down to 1/10000 radians per unit of t.
            self._frequencies = np.exp(-math.log(10000.0) * np.arange(half) / max(half - 1, 1)
                                       ).astype(np.float32)

        width = 4 * self.channels
        self.embedding_dense0 = keras.layers.Dense(width, name="embedding_dense0")
        self.embedding_dense1 = keras.layers.Dense(width, name="embedding_dense1")

        def block(name, c_in, c_out):
            return UNetResidualBlock(c_in, c_out, self.dropout, self.skip_rescale, name=name)

        self.conv_in = _conv(self.channels, name="conv_in")
        skips = [self.channels]
        c = self.channels
        last = len(self.channel_mults) - 1
        self.down_blocks, self.downsamplers = [], []
        for i, mult in enumerate(self.channel_mults):
            blocks = []
            for j in range(self.num_res_blocks):
                blocks.append(block(f"down{i}_block{j}", c, self.channels * mult))
                c = self.channels * mult
                skips.append(c)
            self.down_blocks.append(blocks)
            if i < last:
                self.downsamplers.append(
                    _conv(c, strides=2, name=f"down{i}_conv") if self.downsample == "conv"
                    else keras.layers.AveragePooling2D(2, name=f"down{i}_pool"))
                skips.append(c)
        self.middle_block0 = block("middle_block0", c, c)
        self.middle_attention = (UNetSelfAttention(c, self.skip_rescale, name="middle_attention")
                                 if self.attention else None)
        self.middle_block1 = block("middle_block1", c, c)
        self.up_blocks, self.upsamplers = [], []
        for i in reversed(range(len(self.channel_mults))):
            blocks = []
            for j in range(self.num_res_blocks + 1):
                out = self.channels * self.channel_mults[i]
                blocks.append(block(f"up{i}_block{j}", c + skips.pop(), out))
                c = out
            self.up_blocks.append(blocks)
            if i > 0:
                self.upsamplers.append(_conv(c, name=f"up{i}_conv"))
        self.head_norm = _norm(c, "head_norm")
        self.head_conv = _conv(self.data_shape[-1], small=True, name="head_conv")

    def _check(self) -> None:
        if len(self.data_shape) != 3:
            raise ValueError(f"input_shape must be (H, W, C), got {self.data_shape}")
        if not self.sigmas or min(self.sigmas) <= 0:
            raise ValueError(f"sigmas must hold at least one positive noise level, got "
                             f"{self.sigmas}")
        if self.channels < 1 or self.num_res_blocks < 0:
            raise ValueError("channels must be >= 1 and num_res_blocks >= 0, got "
                             f"{self.channels} and {self.num_res_blocks}")
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"channel_mults must be positive integers, got "
                             f"{list(self.channel_mults)}")
        factor = 2 ** (len(self.channel_mults) - 1)
        height, width = self.data_shape[:2]
        if height % factor or width % factor:
            raise ValueError(
                f"channel_mults={list(self.channel_mults)} halves the image "
                f"{len(self.channel_mults) - 1} times, so H and W must be divisible by "
                f"{factor}; input_shape is {self.data_shape} (use fewer channel_mults)")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got "
                             f"{self.embedding!r}")
        if self.embedding_dim < 2 or self.embedding_dim % 2:
            raise ValueError(f"embedding_dim must be even and >= 2, got {self.embedding_dim}")
        if self.downsample not in DOWNSAMPLES:
            raise ValueError(f"downsample must be one of {', '.join(DOWNSAMPLES)}, got "
                             f"{self.downsample!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def call(self, x, level, training=None):
        sigma = tf.gather(tf.constant(self.sigmas, tf.float32), level)
        return self.score_at_sigma(x, sigma, training=training)

    def score_at_sigma(self, x, sigma, training=None):
        """s(x, sigma) = network(x, embed(sigma)) / sigma for float32 sigma [N], any sigma > 0.

        Pass training=True for dropout (a trainer calling this directly must)."""
        sigma = tf.reshape(tf.cast(sigma, tf.float32), [-1])
        return self.raw_output(x, sigma, training=training) / sigma[:, None, None, None]

    def raw_output(self, x, sigma, training=None):
        """The U-Net's float32 output at float32 sigma [N], before the division by sigma (F
        of EDM's preconditioning, `tfncsn.preconditioning`)."""
        return tf.cast(self.network(x, self.noise_features(sigma), training=training),
                       tf.float32)  # float32 under mixed precision.

    def noise_features(self, sigma):
        """The sin/cos features of log sigma [N] -> float32 [N, embedding_dim]."""
        log_sigma = tf.math.log(sigma)
        if self.embedding == "positional":
            log_sigma = (POSITIONAL_RANGE * (log_sigma - self._log_sigma_min)
                         / self._log_sigma_span)
        angles = log_sigma[:, None] * self._frequencies
        return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)

    def network(self, x, features, training=None):
        """The U-Net's output from the noise features, before the division by sigma."""
        emb = self.embedding_dense1(tf.nn.silu(self.embedding_dense0(features)))
        h = 2.0 * x - 1.0 if self.rescale_input else x
        h = self.conv_in(h)
        skips = [h]
        for i, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, emb, training=training)
                skips.append(h)
            if i < len(self.downsamplers):
                h = self.downsamplers[i](h)
                skips.append(h)
        h = self.middle_block0(h, emb, training=training)
        if self.middle_attention is not None:
            h = self.middle_attention(h)
        h = self.middle_block1(h, emb, training=training)
        for i, blocks in enumerate(self.up_blocks):
            for block in blocks:
                h = block(tf.concat([h, skips.pop()], axis=-1), emb, training=training)
            if i < len(self.upsamplers):
                h = self.upsamplers[i](upsample_nearest_2x(h))
        return self.head_conv(tf.nn.silu(self.head_norm(h)))

    def build_from_config(self, config):
        """Creates the weights after deserialisation (Keras cannot infer two inputs)."""
        self(tf.zeros([1, *self.data_shape]), tf.zeros([1], tf.int32))

    def get_config(self):
        config = super().get_config()
        config.update(input_shape=list(self.data_shape), sigmas=self.sigmas,
                      channels=self.channels, channel_mults=list(self.channel_mults),
                      num_res_blocks=self.num_res_blocks, attention=self.attention,
                      dropout=self.dropout, embedding=self.embedding,
                      embedding_dim=self.embedding_dim, fourier_scale=self.fourier_scale,
                      downsample=self.downsample, skip_rescale=self.skip_rescale,
                      rescale_input=self.rescale_input)
        return config
