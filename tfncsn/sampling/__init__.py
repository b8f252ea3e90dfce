"""Sampling: samplers as step programs, and running them (docs/samplers.md).

    contract      what a sampler plugin is: `Sampler`, built for a `Problem`, with its `Noise`,
                  `Prior` and `State`; `build` checks a plugin against it
    runner        runs a program eagerly in calls with progress (`Runner`) or in a graph
                  (`run_in_graph`); tries a sampler with a stand-in score before a model exists
    langevin      the arithmetic of the Langevin-type samplers (docs/algorithms.md#langevin)
    conditioning  inpainting, colorization and classifier guidance of any sampler
    score_source  the score function of a workdir (or a dataset), and drawing samples from it

A sampler plugin imports its base class from here: `from tfncsn.sampling import Sampler`.
"""

from tfncsn.sampling.contract import (NoOptions, Noise, Prior, Problem, Sampler, SamplerError,
                                      State, build)
from tfncsn.sampling.runner import Runner, SamplerOutput, run_in_graph

__all__ = ["NoOptions", "Noise", "Prior", "Problem", "Runner", "Sampler", "SamplerError",
           "SamplerOutput", "State", "build", "run_in_graph"]
