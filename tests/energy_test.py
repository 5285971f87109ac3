"""Behaviour of tfgen.nets.energy: one builder, presets per grid size."""

import sys
import numpy as np
import pytest

from tfgen.nets import energy


@pytest.mark.parametrize("size, num_convs", [(4, 1), (8, 1), (16, 3),
                                             (32, 4), (64, 5)])
def test_preset_halves_down_to_small_maps(size, num_convs):
  spec = energy.energy_net_spec(size)
  assert len(spec.filters) == num_convs
  assert spec.kernel_sizes[0] == 5


@pytest.mark.parametrize("size, channels", [(4, 1), (16, 3), (64, 3)])
def test_net_maps_images_to_one_score_each(size, channels):
  net = energy.build_energy_net(size, channels,
                                energy.energy_net_spec(size, width=0.125))
  images = np.zeros((2, size, size, channels), np.float32)
  assert net(images).shape == (2, 1)
  assert net.name == f"energy_{size}"


def test_width_scales_every_conv():
  narrow = energy.energy_net_spec(16, width=0.5)
  wide = energy.energy_net_spec(16, width=1.0)
  assert all(2 * n == w for n, w in zip(narrow.filters, wide.filters))


@pytest.mark.parametrize("size, width, match", [
    (1, 1.0, "image_size=1"), (16, 0.0, "net_width=0.0")])
def test_bad_presets_are_rejected(size, width, match):
  with pytest.raises(ValueError, match=match):
    energy.energy_net_spec(size, width)


def test_spec_with_ragged_lists_is_rejected():
  with pytest.raises(ValueError, match="differ in length"):
    energy.EnergyNetSpec(filters=(8, 16), kernel_sizes=(3,), strides=(2, 2))


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
