"""Sampling: samplers as step programs, and running them (docs/samplers.md).

    contract      what a sampler plugin is: a `Sampler` built for a `Problem`, with its `Noise`,
                  `Prior` and `State`
    options       a sampler's typed `Options` from plain values (`--sampler_options`) and back
    checks        the contract's checks, each error one line; `build` makes a checked program
    runner        runs a program eagerly in calls with progress (`Runner`) or in a graph
                  (`run_in_graph`)
    stand_in      tries a sampler with a stand-in score before any model exists
    langevin      the arithmetic of the Langevin-type samplers (docs/algorithms.md#langevin)
    conditioning  inpainting, colorization and classifier guidance of any sampler
    score_source  the score function of a workdir (or a dataset), and drawing samples from it

A sampler plugin imports its base class from here: `from tfncsn.sampling import Sampler`.
"""

from tfncsn.sampling.checks import build
from tfncsn.sampling.contract import (NoOptions, Noise, Prior, Problem, Sampler, SamplerError,
                                      State)
from tfncsn.sampling.runner import Runner, SamplerOutput, run_in_graph

__all__ = ["NoOptions", "Noise", "Prior", "Problem", "Runner", "Sampler", "SamplerError",
           "SamplerOutput", "State", "build", "run_in_graph"]
