"""The NCSN image score network: CondRefineNetDilated (paper Appendix A).

See docs/algorithms.md section 6.2 (and 6.4 for the NCSNv2 variant).
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tfncsn.models.convolution import check_conv_bias_init, conv, init_conv_biases
from tfncsn.models.instance_norm import make_norm
from tfncsn.models.refine_block import RefineBlock
from tfncsn.models.residual_block import ResidualBlock


class DilatedRefineNet(keras.Model):
    """The topology shared by NCSN and NCSNv2; use the subclasses.

    x in [0, 1] -> 2x - 1 (unless `rescale_input` is False) -> 3x3 conv to ngf
    -> four residual stages (ngf; 2 ngf at half resolution; 2 ngf dilation 2;
    2 ngf dilation 4) -> 4-cascade RefineNet back to ngf at full resolution ->
    norm, ELU, 3x3 conv to the image channels.

    `conditional` selects CondInstanceNorm++ (NCSN) or InstanceNorm++ (NCSNv2);
    `refine_norms` puts norms inside the refine blocks (NCSN); `pool` is the
    chained residual pooling's ("avg" NCSN, "max" NCSNv2); `scale_by_sigma`
    divides the output by sigma[level] (NCSNv2). Convolution kernels start as
    PyTorch's default, and so do the biases unless `conv_bias_init="zeros"`.
    """

    def __init__(self, *, input_shape: Sequence[int], sigmas: Sequence[float], ngf: int,
                 conditional: bool, refine_norms: bool, pool: str, scale_by_sigma: bool,
                 rescale_input: bool, pool_count_padding: bool, align_corners: bool,
                 unbiased_channel_variance: bool, conv_bias_init: str = "uniform", **kwargs):
        super().__init__(**kwargs)
        self.data_shape = tuple(int(d) for d in input_shape)
        if len(self.data_shape) != 3 or self.data_shape[0] % 2 or self.data_shape[1] % 2:
            raise ValueError("input_shape must be (H, W, C) with even H and W, got "
                             f"{self.data_shape}")
        self.sigmas = [float(s) for s in sigmas]
        if not self.sigmas:
            raise ValueError("sigmas must hold at least one noise level")
        self.ngf = int(ngf)
        self.rescale_input = bool(rescale_input)
        self.pool_count_padding = bool(pool_count_padding)
        self.align_corners = bool(align_corners)
        self.unbiased_channel_variance = bool(unbiased_channel_variance)
        self.conv_bias_init = check_conv_bias_init(conv_bias_init)
        self._scale_by_sigma = bool(scale_by_sigma)
        num_levels = len(self.sigmas) if conditional else None
        unbiased = self.unbiased_channel_variance
        ngf2 = 2 * self.ngf

        def block(name, filters, **options):
            return ResidualBlock(filters, num_levels, unbiased_channel_variance=unbiased,
                                 name=name, **options)

        def refine(name, filters, num_inputs, last=False):
            return RefineBlock(filters, num_inputs, num_levels, last=last,
                               normalize=refine_norms, pool=pool,
                               count_padding=self.pool_count_padding,
                               align_corners=self.align_corners,
                               unbiased_channel_variance=unbiased, name=name)

        self.begin_conv = conv(self.ngf, name="begin_conv")
        self.stages = [
            [block("res1_0", self.ngf), block("res1_1", self.ngf)],
            [block("res2_0", ngf2, downsample=True), block("res2_1", ngf2)],
            [block("res3_0", ngf2, dilation=2, conv_shortcut=True),
             block("res3_1", ngf2, dilation=2)],
            [block("res4_0", ngf2, dilation=4, conv_shortcut=True),
             block("res4_1", ngf2, dilation=4)],
        ]
        self.refine1 = refine("refine1", ngf2, 1)
        self.refine2 = refine("refine2", ngf2, 2)
        self.refine3 = refine("refine3", self.ngf, 2)
        self.refine4 = refine("refine4", self.ngf, 2, last=True)
        self.end_norm = make_norm(num_levels, unbiased, "end_norm")
        self.end_conv = conv(self.data_shape[-1], name="end_conv")

    def build(self, input_shape):
        """Creates every weight from the shape of x alone, without a forward pass."""
        shape = tuple(input_shape)
        self.begin_conv.build(shape)
        shape = self.begin_conv.compute_output_shape(shape)
        features = []
        for stage in self.stages:
            for block in stage:
                block.build(shape)
                shape = block.compute_output_shape(shape)
            features.append(shape)
        shape = features[3]
        for refine, skip in ((self.refine1, None), (self.refine2, features[2]),
                             (self.refine3, features[1]), (self.refine4, features[0])):
            shapes = [shape] if skip is None else [skip, shape]
            refine.build(shapes)
            shape = refine.compute_output_shape(shapes)
        self.end_norm.build(shape)
        self.end_conv.build(shape)
        if self.conv_bias_init == "uniform":
            init_conv_biases(self)

    def call(self, x, level):
        score = tf.cast(self.network(x, level), tf.float32)  # float32 under mixed precision.
        if self._scale_by_sigma:
            sigma = tf.gather(tf.constant(self.sigmas, tf.float32), level)
            score = score / sigma[:, None, None, None]
        return score

    def network(self, x, level):
        """The RefineNet's output before any division by sigma."""
        h = 2.0 * x - 1.0 if self.rescale_input else x
        h = self.begin_conv(h)
        features = []
        for stage in self.stages:
            for block in stage:
                h = block(h, level)
            features.append(h)
        h1, h2, h3, h4 = features
        r = self.refine1([h4], level)
        r = self.refine2([h3, r], level)
        r = self.refine3([h2, r], level)
        r = self.refine4([h1, r], level)
        return self.end_conv(tf.nn.elu(self.end_norm(r, level)))

    def get_config(self):
        config = super().get_config()
        config.update(input_shape=list(self.data_shape), sigmas=self.sigmas, ngf=self.ngf,
                      rescale_input=self.rescale_input,
                      pool_count_padding=self.pool_count_padding,
                      align_corners=self.align_corners,
                      unbiased_channel_variance=self.unbiased_channel_variance,
                      conv_bias_init=self.conv_bias_init)
        return config


@keras.saving.register_keras_serializable(package="tfncsn")
class CondRefineNetDilated(DilatedRefineNet):
    """NCSN's noise-conditional RefineNet with dilations (Song & Ermon 2019, Appendix A).

    CondInstanceNorm++ everywhere (one gamma, alpha, beta row per noise
    level), ELU, pre-activation residual stages and a 4-cascade RefineNet
    (docs/algorithms.md section 6.2). The defaults reproduce the reference PyTorch code,
    including its three numeric quirks.

    Args:
      input_shape: (H, W, C) of one image, H and W even.
      sigmas: the noise levels, index 0 = largest; only their number is used.
      ngf: base width (paper: 64 for MNIST, 128 for CIFAR-10 and CelebA).
      rescale_input: map x in [0, 1] to 2x - 1 first; set False when the data
        are already centred (e.g. logit-transformed).
      pool_count_padding: the 5x5 average pool divides by 25 at the borders
        too, counting the zero padding (reference); False: TF "SAME".
      align_corners: align-corners bilinear fusion resize (reference); False:
        half-pixel `tf.image.resize`.
      unbiased_channel_variance: InstanceNorm++ divides the variance of the
        channel means by C - 1 (reference) instead of C.
      conv_bias_init: "uniform" draws every convolution bias from
        U(+-1/sqrt(fan_in)), PyTorch's Conv2d default, which the reference trains
        with; "zeros" starts them at 0.

    Call arguments:
      x: float32 [N, H, W, C] in [0, 1]; level: int32 [N] indices into sigmas.

    Returns:
      The estimated score, float32 [N, H, W, C].

    Example:
      >>> model = CondRefineNetDilated(input_shape=(28, 28, 1), sigmas=[1.0, 0.1], ngf=8)
      >>> model(tf.zeros([2, 28, 28, 1]), tf.constant([0, 1])).shape
      TensorShape([2, 28, 28, 1])
    """

    def __init__(self, *, input_shape: Sequence[int], sigmas: Sequence[float], ngf: int = 128,
                 rescale_input: bool = True, pool_count_padding: bool = True,
                 align_corners: bool = True, unbiased_channel_variance: bool = True,
                 conv_bias_init: str = "uniform", **kwargs):
        super().__init__(input_shape=input_shape, sigmas=sigmas, ngf=ngf, conditional=True,
                         refine_norms=True, pool="avg", scale_by_sigma=False,
                         rescale_input=rescale_input, pool_count_padding=pool_count_padding,
                         align_corners=align_corners,
                         unbiased_channel_variance=unbiased_channel_variance,
                         conv_bias_init=conv_bias_init, **kwargs)
