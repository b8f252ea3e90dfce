"""A noise-conditional MLP score network for low-dimensional data (paper Appendix B.1)."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

NOISE_EMBEDDINGS = ("learned", "fourier")


@keras.saving.register_keras_serializable(package="tfncsn")
class MLPScoreNet(keras.Model):
    """s(x, level): an MLP on [x, embedding(level)], its output divided by sigma_level.

    Dividing by sigma (NCSNv2, Song & Ermon 2020) makes the network's output
    O(1) at every level, since the true score scales like 1/sigma.

    Args:
      input_shape: shape of one example, e.g. (2,).
      sigmas: the noise levels, index 0 = largest.
      hidden_units: widths of the hidden layers (paper: 3 x 128).
      activation: hidden activation (paper: softplus).
      embedding_dim: width of the noise-level embedding.
      noise_embedding: "learned" (a trainable row per trained level) or "fourier"
        (sin/cos of log sigma at fixed geometric frequencies), which lets the
        model be evaluated at any sigma (`continuous_sigma`, `score_at_sigma`).
      scale_by_sigma: divide the output by sigma_level.
      data_std: when positive, inputs are divided by sqrt(data_std^2 + sigma^2),
        the standard deviation of the perturbed data (Karras et al. 2022, c_in),
        so every level sees inputs of order one; 0 disables it.

    Call arguments:
      x: float32 [N, *input_shape]; level: int32 [N] indices into sigmas.
    """

    def __init__(self, *, input_shape: Sequence[int], sigmas: Sequence[float],
                 hidden_units: Sequence[int] = (128, 128, 128), activation: str = "softplus",
                 embedding_dim: int = 16, scale_by_sigma: bool = True, data_std: float = 1.0,
                 noise_embedding: str = "learned", **kwargs):
        super().__init__(**kwargs)
        if noise_embedding not in NOISE_EMBEDDINGS:
            raise ValueError(f"noise_embedding must be one of {', '.join(NOISE_EMBEDDINGS)}, "
                             f"got {noise_embedding!r}")
        if noise_embedding == "fourier" and (embedding_dim < 2 or embedding_dim % 2):
            raise ValueError(f"noise_embedding=fourier needs an even embedding_dim >= 2, got "
                             f"{embedding_dim}")
        self.noise_embedding = noise_embedding
        self.continuous_sigma = noise_embedding == "fourier"
        self.data_shape = tuple(int(d) for d in input_shape)
        self.sigmas = [float(s) for s in sigmas]
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation_name = activation
        self.embedding_dim = int(embedding_dim)
        self.scale_by_sigma = bool(scale_by_sigma)
        self.data_std = float(data_std)
        if noise_embedding == "learned":
            self.embedding = keras.layers.Embedding(len(self.sigmas), self.embedding_dim,
                                                    name="level_embedding")
        else:  # Periods from 64 down to 1/4 units of log sigma.
            self.frequencies = (np.geomspace(1.0 / 64.0, 4.0, self.embedding_dim // 2)
                                * 2 * np.pi).astype(np.float32)
        self.hidden = [keras.layers.Dense(u, activation=activation, name=f"hidden_{i}")
                       for i, u in enumerate(self.hidden_units)]
        self.out = keras.layers.Dense(int(tf.reduce_prod(self.data_shape)), name="score")

    def call(self, x, level):
        sigma = tf.gather(tf.constant(self.sigmas, tf.float32), level)
        if self.noise_embedding == "learned":
            return self._score(x, sigma, self.embedding(level))
        return self.score_at_sigma(x, sigma)

    def score_at_sigma(self, x, sigma, training=None):
        """s(x, sigma) for float32 sigma [N]; any sigma > 0 with noise_embedding=fourier
        (`training` is accepted for the continuous-time trainer; the MLP has no dropout)."""
        del training
        return self._score(x, sigma, self._fourier(sigma))

    def raw_output(self, x, sigma, training=None):
        """The network's float32 output at float32 sigma [N], before any division by sigma (F
        of EDM's preconditioning, `tfncsn.preconditioning`); noise_embedding=fourier."""
        del training
        return self._score(x, sigma, self._fourier(sigma), scale_by_sigma=False)

    def _fourier(self, sigma):
        if self.noise_embedding != "fourier":
            raise ValueError("a score at any sigma needs noise_embedding=fourier")
        angles = tf.math.log(sigma)[:, None] * self.frequencies
        return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)

    def _score(self, x, sigma, embedding, scale_by_sigma=None):
        batch = tf.shape(x)[0]
        sigma = sigma[:, None]
        # In float32 up to the first layer, and from the last, under mixed precision too.
        h = tf.cast(tf.reshape(x, [batch, -1]), tf.float32)
        embedding = tf.cast(embedding, tf.float32)
        if self.data_std > 0:
            h = h * tf.math.rsqrt(self.data_std ** 2 + tf.square(sigma))
        h = tf.concat([h, embedding], axis=-1)
        for layer in self.hidden:
            h = layer(h)
        score = tf.reshape(tf.cast(self.out(h), tf.float32),
                           tf.concat([[batch], self.data_shape], 0))
        if self.scale_by_sigma if scale_by_sigma is None else scale_by_sigma:
            score = score / tf.reshape(sigma, [-1] + [1] * len(self.data_shape))
        return score

    def build_from_config(self, config):
        """Creates the weights after deserialisation (Keras cannot infer two inputs)."""
        self(tf.zeros([1, *self.data_shape]), tf.zeros([1], tf.int32))

    def get_config(self):
        config = super().get_config()
        config.update(input_shape=list(self.data_shape), sigmas=self.sigmas,
                      hidden_units=list(self.hidden_units), activation=self.activation_name,
                      embedding_dim=self.embedding_dim, scale_by_sigma=self.scale_by_sigma,
                      data_std=self.data_std, noise_embedding=self.noise_embedding)
        return config
