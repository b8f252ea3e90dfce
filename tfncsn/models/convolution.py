"""The convolutions of the RefineNets, initialised as PyTorch's Conv2d (docs/algorithms.md
section 6.3): kernels U(+-1/sqrt(fan_in)) by default, biases 0 or, with `init_conv_biases`,
drawn from the same bound, the fourth porting pitfall.
"""

from __future__ import annotations

import keras

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
