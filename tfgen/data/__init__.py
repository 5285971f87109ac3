"""Data: image sources, input pipelines and pyramid operations."""

from tfgen.data.pyramid import blur_downsample
from tfgen.data.pyramid import blur_upsample
from tfgen.data.pyramid import downsample
from tfgen.data.pyramid import gaussian_pyramid
from tfgen.data.pyramid import laplacian_pyramid
from tfgen.data.pyramid import reconstruct_laplacian
from tfgen.data.pyramid import upsample
from tfgen.data.pyramid import validate_grid_sizes
from tfgen.data.sources import arrays
from tfgen.data.sources import examples
from tfgen.data.sources import load
from tfgen.data.sources import num_channels
from tfgen.data.sources import num_classes
from tfgen.data.sources import validate_name
