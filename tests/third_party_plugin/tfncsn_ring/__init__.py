"""An example tfncsn plugin package: a dataset, a sigma schedule and a sampler."""

import numpy as np
import tensorflow as tf

from tfncsn.interfaces import Dataset, SamplerOutput
from tfncsn.langevin import annealed_loop
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


def clipped_langevin(score_fn, x, sigmas, *, rng, eps, steps_per_level, convention="paper",
                     callback=None, keep_every=0, **unused):
    """Annealed Langevin dynamics that keeps samples inside the prior box."""
    return annealed_loop(score_fn, x, sigmas, tf.range(tf.size(sigmas)), rng=rng, eps=eps,
                         steps_per_level=steps_per_level, convention=convention,
                         callback=callback, keep_every=keep_every,
                         after_step=lambda x, aux: tf.clip_by_value(x, -5.0, 5.0))


clipped_langevin.total_steps = lambda num_levels, steps_per_level: num_levels * steps_per_level
