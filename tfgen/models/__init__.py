"""Model families: keras.Model subclasses with train_step and sample()."""

from tfgen.models.lapgan import LAPGAN
from tfgen.models.multigrid import MultigridEBM
