"""Keras networks used by the model families."""

from tfgen.nets.energy import EnergyNetSpec
from tfgen.nets.energy import build_energy_net
from tfgen.nets.energy import energy_net_spec
