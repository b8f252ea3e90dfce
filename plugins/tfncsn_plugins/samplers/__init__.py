"""Built-in samplers (group `tfncsn.samplers`), each a step program (`tfncsn.sampling.Sampler`).

    annealed_langevin  Algorithm 1 of Song & Ermon (2019)                      (langevin.py)
    langevin           plain Langevin dynamics at the smallest level (their Fig. 3b)
    pc                 reverse-diffusion predictor + Langevin corrector (Song et al. 2021, Alg. 2)
    ode                the probability-flow ODE, Euler or Heun (Song et al. 2021, Sec. 4.3)
    ancestral          ancestral sampling: DDPM's for VP, score_sde's for VE   (sde.py)
    euler              Euler on the probability-flow ODE in sigma (Karras et al. 2022)
    heun               EDM's Heun sampler, Algorithms 1 and 2 (Karras et al. 2022)
    dpmpp_2m           DPM-Solver++(2M) in data prediction (Lu et al. 2022)  (sigma_ode.py)

pc, ode and ancestral work on NCSN's levels (the VE SDE they discretise) and on the run's SDE
(`tfncsn train --sde`, tfncsn.sdes); euler, heun and dpmpp_2m need a model that accepts any
sigma and walk any run in the VE form (sigma = std / m).

The maths, defaults and conventions are in docs/samplers.md.
"""

from tfncsn_plugins.samplers.langevin import AnnealedLangevin, LangevinOptions, PlainLangevin
from tfncsn_plugins.samplers.sde import (AncestralOptions, AncestralSampling, ODEOptions,
                                         PCOptions, PredictorCorrector, ProbabilityFlowODE,
                                         sigma_grid)
from tfncsn_plugins.samplers.sigma_ode import (DPMSolverPlusPlus2M, Euler, Heun,
                                               SigmaGridOptions)

__all__ = ["AncestralOptions", "AncestralSampling", "AnnealedLangevin", "DPMSolverPlusPlus2M",
           "Euler", "Heun", "LangevinOptions", "ODEOptions", "PCOptions", "PlainLangevin",
           "PredictorCorrector", "ProbabilityFlowODE", "SigmaGridOptions", "sigma_grid"]
