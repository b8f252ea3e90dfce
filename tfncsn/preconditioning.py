"""EDM's preconditioned denoiser around any network that accepts any sigma (Karras et al. 2022,
Table 1 and section 5; docs/algorithms.md#edm).

    D(x; sigma) = c_skip x + c_out F(c_in x, sigma),  score = (D - x) / sigma^2
    c_skip = sd^2 / (sigma^2 + sd^2),  c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2),  sd = sigma_data.

F is the wrapped network's `raw_output(x, sigma)`: its output before it becomes a score. The
network embeds log sigma itself; EDM's c_noise = ln(sigma) / 4 is a rescaling of the same input.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfncsn import sdes


def edm_coefficients(sigma: tf.Tensor, sigma_data: float) -> tuple[tf.Tensor, tf.Tensor,
                                                                     tf.Tensor]:
    """(c_skip, c_out, c_in) at float32 sigma [N] (EDM, Table 1, "ours")."""
    total = tf.square(sigma) + sigma_data ** 2
    return sigma_data ** 2 / total, sigma * sigma_data * tf.math.rsqrt(total), tf.math.rsqrt(total)


def edm_score(x: tf.Tensor, sigma: tf.Tensor, output: tf.Tensor, sigma_data: float) -> tf.Tensor:
    """(D - x) / sigma^2 for D = c_skip x + c_out F, written as -x / (sigma^2 + sd^2) +
    sd F / (sigma sqrt(sigma^2 + sd^2)), which keeps its precision as sigma -> 0."""
    total = sdes.expand(tf.square(sigma) + sigma_data ** 2, x)
    sigma = sdes.expand(sigma, x)
    return -x / total + sigma_data * output * tf.math.rsqrt(total) / sigma


def edm_loss_weight(sigma: tf.Tensor, sigma_data: float) -> tf.Tensor:
    """lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2 (EDM, Table 1)."""
    return (tf.square(sigma) + sigma_data ** 2) / tf.square(sigma * sigma_data)


@keras.saving.register_keras_serializable(package="tfncsn")
class EDMPreconditioned(keras.Model):
    """The score of `network` as EDM's preconditioned denoiser D; see the module docstring.

    Args:
      network: a model with `raw_output(x, sigma, training)` (sigma float32 [N]) and
        `sigmas`, e.g. `unet` or `mlp` with a Fourier embedding.
      sigma_data: sd, the data's standard deviation assumed by the preconditioning.
    """

    continuous_sigma = True

    def __init__(self, network: keras.Model, sigma_data: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if not callable(getattr(network, "raw_output", None)):
            raise ValueError(f"{type(network).__name__} has no raw_output(x, sigma) (its output "
                             "before it becomes a score), which EDM's preconditioning needs; "
                             "use --model=unet or --model=mlp")
        self.network = network
        self.sigma_data = float(sigma_data)
        self.sigmas = list(network.sigmas)

    def build(self, *input_shapes):
        """Nothing of its own to create: the network's weights are made at its first call."""
        self.built = True

    def call(self, x, level, training=None):
        sigma = tf.gather(tf.constant(self.sigmas, tf.float32), level)
        return self.score_at_sigma(x, sigma, training=training)

    def score_at_sigma(self, x, sigma, training=None):
        """s(x, sigma) = (D(x; sigma) - x) / sigma^2 for float32 sigma [N], any sigma > 0."""
        sigma = tf.reshape(tf.cast(sigma, tf.float32), [-1])
        x = tf.cast(x, tf.float32)
        _, _, c_in = edm_coefficients(sigma, self.sigma_data)
        output = tf.cast(self.network.raw_output(sdes.expand(c_in, x) * x, sigma,
                                                 training=training), tf.float32)
        return edm_score(x, sigma, output, self.sigma_data)

    def get_config(self):
        config = super().get_config()
        config.update(network=keras.saving.serialize_keras_object(self.network),
                      sigma_data=self.sigma_data)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)
