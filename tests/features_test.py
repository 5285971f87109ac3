"""tfgen.metrics.features: energy-net features, L2-SVM, supervised CNN and the
2-layer CNN on the feature maps of all grids."""

import sys

import numpy as np
import pytest
import tensorflow as tf

import support
from tfgen import data
from tfgen.core import precision
from tfgen.data import pyramid
from tfgen.metrics import features


tiny_model = support.tiny_multigrid


def digits(split, count=None):
  return data.arrays("digits", split, 8, max_examples=count)


def test_features_have_the_documented_dimension_and_ignore_batching():
  model = tiny_model()
  images, _ = digits("test", 30)
  whole = features.extract_features(model, images)
  # Grid 4: one conv (2x2x8); grid 8: one stride-2 conv (4x4x8 -> 2x2 pool).
  assert whole.shape == (30, features.feature_dimension(model))
  assert features.feature_dimension(model) == 2 * 2 * 8 + 2 * 2 * 8
  np.testing.assert_allclose(
      features.extract_features(model, images, batch_size=7), whole,
      rtol=1e-5, atol=1e-6)
  only_fine = features.extract_features(model, images, grids=[8],
                                        pool_grid=4)
  assert only_fine.shape == (30, 4 * 4 * 8)
  # Different images give different features.
  assert np.abs(whole[0] - whole[1]).max() > 1e-4


def test_features_reject_images_of_the_wrong_size_and_unknown_grids():
  model = tiny_model()
  with pytest.raises(ValueError, match=r"takes \[N, 8, 8, 1\] images"):
    features.extract_features(model, np.zeros((2, 16, 16, 1)))
  with pytest.raises(ValueError, match=r"grids=\[16\] must be"):
    features.extract_features(model, np.zeros((2, 8, 8, 1)), grids=[16])


def test_adaptive_max_pool_takes_the_maximum_of_each_cell():
  maps = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
  maps = np.random.default_rng(0).permutation(maps.ravel()).reshape(maps.shape)
  pooled = features.adaptive_max_pool(tf.constant(maps), 2).numpy()
  assert pooled.shape == (2, 2, 2, 3)
  # Cells cover rows 0..2 / 2..4 (overlapping at the odd middle row).
  np.testing.assert_array_equal(pooled[:, 0, 0], maps[:, :3, :3].max((1, 2)))
  np.testing.assert_array_equal(pooled[:, 1, 1], maps[:, 2:, 2:].max((1, 2)))
  small = features.adaptive_max_pool(tf.constant(maps[:, :2, :2]), 4)
  np.testing.assert_array_equal(small.numpy(), maps[:, :2, :2])


def test_balanced_subset_spreads_over_classes_and_is_seeded():
  labels = np.repeat(np.arange(4), 25)
  subset = features.balanced_subset(labels, 10, seed=1)
  counts = np.bincount(labels[subset], minlength=4)
  assert sorted(counts) == [2, 2, 3, 3] and len(set(subset)) == 10
  np.testing.assert_array_equal(subset,
                                features.balanced_subset(labels, 10, seed=1))
  assert not np.array_equal(subset,
                            features.balanced_subset(labels, 10, seed=2))


@pytest.mark.parametrize("count, expected", [
    (0, "num_labelled=0 must be a positive int"),
    (-5, "num_labelled=-5 must be a positive int"),
    (101, "num_labelled=101 is larger than the 100 labelled"),
    (3, "num_labelled=3 is fewer than the 4 classes"),
])
def test_balanced_subset_rejects_impossible_sizes(count, expected):
  labels = np.repeat(np.arange(4), 25)
  with pytest.raises(ValueError, match=expected):
    features.balanced_subset(labels, count)


def test_balanced_subset_names_a_class_with_too_few_examples():
  labels = np.array([0] * 50 + [1] * 2)
  with pytest.raises(ValueError, match="3 examples of class 1"):
    features.balanced_subset(labels, 6)


def test_svm_separates_separable_features_and_not_random_labels():
  rng = np.random.default_rng(0)
  centres = rng.normal(0, 5, size=(3, 20))
  labels = rng.integers(0, 3, 300)
  points = centres[labels] + rng.normal(0, 0.5, size=(300, 20))
  assert features.svm_test_error(points[:150], labels[:150], points[150:],
                                 labels[150:]) == 0.0
  shuffled = rng.permutation(labels)
  assert features.svm_test_error(points[:150], shuffled[:150], points[150:],
                                 shuffled[150:]) > 0.4


def test_supervised_cnn_has_the_finest_energy_nets_convs_and_seeded_weights():
  model = tiny_model()
  cnn = features.build_supervised_cnn(model, num_classes=10, seed=4)
  assert cnn.output.shape[-1] == 10
  energy_convs = [l.kernel.shape for l in model.energy_nets[-1].layers
                  if hasattr(l, "kernel") and l.name.startswith("conv")]
  cnn_convs = [l.kernel.shape for l in cnn.layers
               if hasattr(l, "kernel") and l.name.startswith("conv")]
  assert cnn_convs == energy_convs
  again = features.build_supervised_cnn(model, num_classes=10, seed=4)
  for first, second in zip(cnn.weights, again.weights):
    np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_evaluate_features_reports_one_row_per_setting_better_than_chance():
  model = tiny_model()
  train_images, train_labels = digits("train", 400)
  test_images, test_labels = digits("test", 150)
  rows = features.evaluate_features(model, train_images, train_labels,
                                    test_images, test_labels,
                                    num_labelled=(20, 100), seed=0,
                                    cnn_epochs=3, feature_cnn_epochs=8)
  assert [r["num_labelled"] for r in rows] == [20, 100]
  for row in rows:
    assert set(row) == {"num_labelled", "svm_error", "supervised_cnn_error",
                        "feature_cnn_error", "feature_cnn_epochs_trained"}
    assert 0.0 <= row["supervised_cnn_error"] <= 1.0
    assert 0.0 <= row["feature_cnn_error"] <= 1.0
    assert 1 <= row["feature_cnn_epochs_trained"] <= 8
  # Even untrained conv features separate digits far better than chance
  # (0.9), and more labels help.
  assert rows[1]["svm_error"] < 0.5
  assert rows[1]["svm_error"] <= rows[0]["svm_error"]
  assert rows[1]["feature_cnn_error"] < 0.6
  skipped = features.evaluate_features(
      model, train_images, train_labels, test_images, test_labels,
      num_labelled=20, cnn_epochs=0, feature_cnn_epochs=0)
  assert skipped[0]["svm_error"] == rows[0]["svm_error"]
  assert skipped[0]["feature_cnn_error"] is None
  assert skipped[0]["feature_cnn_epochs_trained"] is None


def test_evaluate_features_rejects_unlabelled_data_and_too_many_labels():
  model = tiny_model()
  images, labels = digits("train", 40)
  with pytest.raises(ValueError, match="num_labelled=41 is larger"):
    features.evaluate_features(model, images, labels, images, labels,
                               num_labelled=41)
  with pytest.raises(ValueError, match="class labels >= 0"):
    features.evaluate_features(model, images, -np.ones(40), images, labels,
                               num_labelled=20)



@pytest.mark.parametrize("kwargs, expected", [
    (dict(num_labelled=15, feature_cnn_epochs=5),
     r"num_labelled=15 gives class \d only 1 labelled example, but the CNN "
     r"on feature maps needs at least 2 per class .*pass --num_labelled >= "
     r"20, or --feature_cnn_epochs=0 to skip that row"),
    (dict(num_labelled=20, feature_cnn_epochs=-1),
     r"feature_cnn_epochs=-1 must be an int >= 0 \(0 skips that row\)"),
    (dict(num_labelled=20, feature_map_size=0),
     r"feature_map_size=0 must be a positive int, e.g. 4"),
])
def test_evaluate_features_rejects_bad_feature_cnn_settings_up_front(
    kwargs, expected, monkeypatch):
  model = tiny_model()
  images, labels = digits("train", 60)
  # Fails before any feature is extracted (the slow part).
  monkeypatch.setattr(features, "extract_features", None)
  with pytest.raises(ValueError, match=expected):
    features.evaluate_features(model, images, labels, images, labels,
                               cnn_epochs=0, **kwargs)
  # Without the CNN row, 15 labels are enough.
  if kwargs.get("num_labelled") == 15:
    monkeypatch.undo()
    row, = features.evaluate_features(model, images, labels, images, labels,
                                      num_labelled=15, cnn_epochs=0,
                                      feature_cnn_epochs=0)
    assert row["feature_cnn_error"] is None


def test_feature_maps_stack_every_grid_resampled_to_the_finest_last_map():
  model = tiny_model()
  images, _ = digits("test", 12)
  maps = features.feature_maps(model, images)
  # Grid 4: conv1 2x2x8 (repeated to 4x4); grid 8: conv1 4x4x8 (as it is).
  assert features.feature_map_size(model) == 4
  assert maps.shape == (12, 4, 4, 16) == (12,) + features.feature_map_shape(
      model)
  coarse = features.conv_activation_model(model.energy_nets[0])(
      pyramid.downsample(tf.constant(images), 4))
  np.testing.assert_allclose(maps[:, ::2, ::2, :8], coarse, rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_array_equal(maps[:, 1::2, 1::2, :8], maps[:, ::2, ::2, :8])
  fine = features.conv_activation_model(model.energy_nets[1])(
      tf.constant(images))
  np.testing.assert_allclose(maps[..., 8:], fine, rtol=1e-5, atol=1e-6)
  # At m = 2 the maps hold exactly the SVM's 2x2-pooled features.
  small = features.feature_maps(model, images, map_size=2)
  flat = features.extract_features(model, images)
  np.testing.assert_allclose(small[..., :8].reshape(12, -1), flat[:, :32],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(small[..., 8:].reshape(12, -1), flat[:, 32:],
                             rtol=1e-5, atol=1e-6)


def test_feature_cnn_validation_slice_is_balanced_and_seeded():
  labels = np.repeat(np.arange(4), 10)
  held_out = features.feature_cnn_validation_slice(labels, seed=2)
  # max(4 classes, 20% of 40) = 8, two per class.
  assert sorted(np.bincount(labels[held_out])) == [2, 2, 2, 2]
  np.testing.assert_array_equal(
      held_out, features.feature_cnn_validation_slice(labels, seed=2))
  few = features.feature_cnn_validation_slice(np.repeat(np.arange(4), 2))
  assert len(few) == 4  # One per class, one left to train on.


def test_feature_cnn_is_float32_and_seeded_even_under_a_mixed_policy():
  maps = np.random.default_rng(0).normal(3.0, 2.0, (20, 4, 4, 6))
  with precision.policy("mixed_bfloat16"):
    cnn = features.build_feature_cnn(maps, num_classes=5, seed=1)
  assert cnn.output.shape[-1] == 5
  assert {l.compute_dtype for l in cnn.layers if l.weights} == {"float32"}
  convs = [l for l in cnn.layers if l.name.startswith("conv")]
  assert [l.kernel.shape for l in convs] == [(3, 3, 6, 64), (3, 3, 64, 64)]
  # The standardisation is fitted on the given maps.
  standardised = cnn.get_layer("standardise")(maps.astype(np.float32))
  np.testing.assert_allclose(np.mean(standardised, axis=(0, 1, 2)), 0.0,
                             atol=1e-4)
  again = features.build_feature_cnn(maps, num_classes=5, seed=1)
  for first, second in zip(cnn.weights, again.weights):
    np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_feature_cnn_learns_digit_labels_not_shuffled_ones_and_is_seeded():
  model = tiny_model()
  train_images, train_labels = digits("train", 600)
  test_images, test_labels = digits("test", 200)
  subset = features.balanced_subset(train_labels, 150, seed=0)
  train_maps = features.feature_maps(model, train_images[subset])
  test_maps = features.feature_maps(model, test_images)
  labels = train_labels[subset]
  error, epochs = features.feature_cnn_test_error(
      train_maps, labels, test_maps, test_labels, 10, seed=0, max_epochs=10,
      patience=3)
  # Untrained conv maps of 8x8 digits still carry the class (chance: 0.9).
  assert 0.0 <= error < 0.35 and 1 <= epochs <= 10
  assert features.feature_cnn_test_error(
      train_maps, labels, test_maps, test_labels, 10, seed=0, max_epochs=10,
      patience=3) == (error, epochs)
  shuffled = np.random.default_rng(1).permutation(labels)
  shuffled_error, _ = features.feature_cnn_test_error(
      train_maps, shuffled, test_maps, test_labels, 10, seed=0,
      max_epochs=10, patience=3)
  assert shuffled_error > 0.7


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
