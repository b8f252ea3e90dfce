"""An example tfncsn plugin package: a dataset, a sigma schedule and a sampler."""

import dataclasses

import numpy as np
import tensorflow as tf

from tfncsn.interfaces import Dataset
from tfncsn.sampling import Sampler
from tfncsn.schedules import check_schedule_args, validate_sigmas


class RingDataset(Dataset):
    """Points on a circle of radius 3 with a little Gaussian noise."""

    element_shape = (2,)
    prior_range = (-5.0, 5.0)

    def __init__(self, data_dir=None, radius=3.0):
        super().__init__(data_dir)
        self.radius = float(radius)

    def load(self, split, *, training=False, seed=0):
        gen = np.random.default_rng({"train": 0, "test": 1}[split])
        angle = gen.uniform(0, 2 * np.pi, 20000)
        points = self.radius * np.stack([np.cos(angle), np.sin(angle)], 1)
        points += 0.1 * gen.standard_normal(points.shape)
        return tf.data.Dataset.from_tensor_slices(points.astype(np.float32))

    def summarize(self, samples):
        return f"mean radius {np.linalg.norm(samples, axis=1).mean():.2f}"


def quadratic(sigma_max, sigma_min, num_levels):
    """Sigmas whose square roots are equally spaced."""
    check_schedule_args(sigma_max, sigma_min, num_levels)
    roots = np.linspace(np.sqrt(sigma_max), np.sqrt(sigma_min), num_levels)
    return validate_sigmas(roots ** 2)


@dataclasses.dataclass(frozen=True)
class ClippedOptions:
    eps: float = 0.01
    steps_per_level: int = 50
    bound: float = 5.0  # Samples are kept inside [-bound, bound]^D.

    def __post_init__(self):
        if not (self.eps > 0 and self.steps_per_level >= 1 and self.bound > 0):
            raise ValueError("need eps > 0, steps_per_level >= 1 and bound > 0")


class ClippedLangevin(Sampler):
    """Annealed Langevin dynamics (step eps sigma_i^2 / sigma_L^2) clipped to a box."""

    Options = ClippedOptions
    supports_conditioning = True

    def __init__(self, options, problem):
        super().__init__(options, problem)
        sigmas = problem.sigmas
        self.alphas = tf.constant(options.eps * (sigmas / sigmas[-1]) ** 2, tf.float32)

    @property
    def num_steps(self):
        return len(self.problem.sigmas) * self.options.steps_per_level

    @property
    def steps_per_level(self):
        return self.options.steps_per_level

    @property
    def step_sigmas(self):
        return np.repeat(self.problem.sigmas, self.options.steps_per_level)

    def step(self, score_fn, state, k, noise):
        level = k // self.options.steps_per_level
        x, alpha = state["x"], self.alphas[level]
        x = x + alpha / 2 * score_fn(x, self.batch_vector(x, level)) + tf.sqrt(alpha) * noise["z"]
        return {"x": tf.clip_by_value(x, -self.options.bound, self.options.bound)}
