"""Built-in samplers (group `tfncsn.samplers`), each a step program (`tfncsn.sampling.Sampler`).

    annealed_langevin  Algorithm 1 of Song & Ermon (2019)                      (langevin.py)
    langevin           plain Langevin dynamics at the smallest level (their Fig. 3b)
    pc                 reverse-diffusion predictor + Langevin corrector (Song et al. 2021, Alg. 2)
    ode                the probability-flow ODE, Euler or Heun (Song et al. 2021, Sec. 4.3)
    ancestral          ancestral sampling: DDPM's for VP, score_sde's for VE   (sde.py)

pc, ode and ancestral work on NCSN's levels (the VE SDE they discretise) and on the run's SDE
(`tfncsn train --sde`, tfncsn.sdes).

The maths, defaults and conventions are in docs/samplers.md.
"""

from tfncsn_plugins.samplers.langevin import AnnealedLangevin, LangevinOptions, PlainLangevin
from tfncsn_plugins.samplers.sde import (AncestralOptions, AncestralSampling, ODEOptions,
                                         PCOptions, PredictorCorrector, ProbabilityFlowODE,
                                         sigma_grid)

__all__ = ["AncestralOptions", "AncestralSampling", "AnnealedLangevin", "LangevinOptions",
           "ODEOptions", "PCOptions", "PlainLangevin", "PredictorCorrector", "ProbabilityFlowODE",
           "sigma_grid"]
