"""Training: strategies, the distributed loop, workdir and checkpoints."""

from tfgen.train.loop import DivergenceError
from tfgen.train.loop import Trainer
from tfgen.train.strategy import make_strategy
from tfgen.train.strategy import split_cpu
from tfgen.train.workdir import CheckpointError
from tfgen.train.workdir import load_model
