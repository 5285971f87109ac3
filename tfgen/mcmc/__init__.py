"""MCMC: TFP transition kernels and the compiled chain runner."""

from tfgen.mcmc.langevin import LangevinKernel
from tfgen.mcmc.langevin import LangevinResults
from tfgen.mcmc.langevin import standard_normal_noise
from tfgen.mcmc.runner import ChainResult
from tfgen.mcmc.runner import compile_fn
from tfgen.mcmc.runner import fold_in
from tfgen.mcmc.runner import run_chain
