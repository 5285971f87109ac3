"""Feature learning: the energy nets as feature extractors (paper Exp. 2).

Following the procedure the multigrid paper takes from DCGAN (Radford et al.,
2015), a trained model is used as a fixed feature extractor and a linear
L2-SVM is trained on a few labelled examples:

* `extract_features(model, images)`: for every model grid g, the images are
  down-sampled to g x g and passed through grid g's energy net; the activation
  (after the non-linearity) of each conv layer is max-pooled to a
  `pool_grid` x `pool_grid` spatial grid (maps already that small are kept),
  flattened, and all of them, coarse grid first and layer by layer, are
  concatenated. With the digits preset (grids 4 and 16, `pool_grid=2`) that is
  2*2*64 (grid 4) + 2*2*(64 + 128 + 128) (grid 16) = 1,536 features. (DCGAN
  pools to 4x4; on digits that gave 5,376 features, an SVM 5x slower to fit
  and no better: test error 0.6% vs. 0.3% with 1,000 labels.)
* `evaluate_features(...)`: for each number of labelled examples, a subset of
  the train split balanced over classes, a `LinearSVC` (squared hinge = L2-SVM)
  on standardised features, its test error; and, as the paper's reference row,
  a supervised CNN of the same architecture as the finest grid's energy net
  (softmax head instead of the score) trained from scratch on the same
  labelled subset only.
* the paper's Table 3 row "multi-grid method + CNN classifier": the conv
  activations of every grid's energy net as feature *maps* (`feature_maps`:
  each resampled to one common m x m grid, max-pooled when larger and
  nearest-neighbour repeated when smaller, then stacked along the channels;
  m is the last conv map side of the finest net, 4 on digits: 4x4x384 maps),
  and a small classifier with two 3x3 conv layers on them
  (`build_feature_cnn`), trained on the labelled subset with early stopping
  on a validation slice of it (`feature_cnn_test_error`).
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import numpy as np
from sklearn import preprocessing
from sklearn import svm
import tensorflow as tf

from tfgen.core import precision
from tfgen.data import pyramid
from tfgen.nets import activations
from tfgen.nets import energy

# Settings of the supervised reference CNN (documented in evaluate_features).
CNN_EPOCHS = 30
CNN_BATCH_SIZE = 32
CNN_LEARNING_RATE = 1e-3
# LinearSVC's C on standardised features; with thousands of features and a
# few hundred examples the data are separable and C hardly matters.
SVM_C = 0.01
SVM_MAX_ITER = 5000
# Settings of the CNN on the feature maps (documented in
# feature_cnn_test_error). FEATURE_CNN_EPOCHS is the most epochs; early
# stopping on the validation slice usually ends sooner.
FEATURE_CNN_FILTERS = 64
FEATURE_CNN_EPOCHS = 100
FEATURE_CNN_PATIENCE = 10
FEATURE_CNN_VALIDATION_FRACTION = 0.2
FEATURE_CNN_BATCH_SIZE = 32
FEATURE_CNN_LEARNING_RATE = 1e-3
FEATURE_CNN_DROPOUT = 0.5


def conv_activations(net: keras.Model) -> list[tuple[str, keras.KerasTensor]]:
  """(conv layer name, its activated output) for each `Conv2D` of a net.

  The activated output is that of the layer right after the conv when it is
  an activation (LeakyReLU, Activation, ReLU), else the conv's own output.
  """
  layers = net.layers
  chosen = []
  for index, layer in enumerate(layers):
    if not isinstance(layer, keras.layers.Conv2D):
      continue
    following = layers[index + 1] if index + 1 < len(layers) else None
    if isinstance(following, (keras.layers.LeakyReLU, keras.layers.Activation,
                              keras.layers.ReLU)):
      chosen.append((layer.name, following.output))
    else:
      chosen.append((layer.name, layer.output))
  if not chosen:
    raise ValueError(f"Energy net {net.name!r} has no Conv2D layer to take "
                     "features from.")
  return chosen


def conv_activation_model(net: keras.Model) -> keras.Model:
  """Functional model: the net's inputs -> list of each conv layer's output."""
  outputs = [output for _, output in conv_activations(net)]
  return keras.Model(net.inputs, outputs, name=f"{net.name}_conv_outputs")


def adaptive_max_pool(maps: tf.Tensor, pool_grid: int) -> tf.Tensor:
  """Max-pools maps [B, H, W, K] to [B, min(H, p), min(W, p), K] (p = pool_grid).

  Cell (i, j) is the maximum over rows floor(i*H/p)..ceil((i+1)*H/p) - 1 (and
  likewise for columns), so H need not be a multiple of p.
  """
  height, width = int(maps.shape[1]), int(maps.shape[2])
  rows, columns = min(height, pool_grid), min(width, pool_grid)
  if (rows, columns) == (height, width):
    return maps
  cells = []
  for i in range(rows):
    top, bottom = (i * height) // rows, -(-(i + 1) * height // rows)
    row = []
    for j in range(columns):
      left, right = (j * width) // columns, -(-(j + 1) * width // columns)
      row.append(tf.reduce_max(maps[:, top:bottom, left:right, :],
                               axis=[1, 2]))
    cells.append(tf.stack(row, axis=1))
  return tf.stack(cells, axis=1)


def _check_images(images, name: str, image_size: int, channels: int
                  ) -> np.ndarray:
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[1:] != (image_size, image_size,
                                               channels):
    raise ValueError(
        f"{name} has shape {images.shape}, but the model takes [N, "
        f"{image_size}, {image_size}, {channels}] images in [-1, 1].")
  if not len(images):
    raise ValueError(f"{name} is empty; pass at least one image.")
  return images


def _check_grids(model, grids) -> tuple[int, ...]:
  grids = tuple(model.model_grids) if grids is None else tuple(grids)
  unknown = [g for g in grids if g not in model.model_grids]
  if unknown or not grids:
    raise ValueError(f"grids={list(grids)} must be a non-empty subset of the "
                     f"model grids {list(model.model_grids)}.")
  return grids


def _grid_outputs(model, images, labels, batch_size: int, grids, reduce
                  ) -> np.ndarray:
  """`reduce(list of conv maps)` of every batch and grid, concatenated.

  For each grid in `grids` (checked) and each batch of `batch_size` images,
  the images are down-sampled to the grid and run through its energy net;
  `reduce` turns that net's conv activations (a list of [B, h, w, K]
  tensors) into one [B, ..., D] array. Batches are stacked along axis 0,
  grids along the last axis.
  """
  if not isinstance(batch_size, int) or batch_size <= 0:
    raise ValueError(f"batch_size={batch_size!r} must be a positive int.")
  grids = _check_grids(model, grids)
  images = _check_images(images, "images", model.grid_sizes[-1],
                         model.channels)
  if labels is not None:
    labels = np.asarray(labels, np.int32)
    if labels.shape != images.shape[:1]:
      raise ValueError(f"labels has shape {labels.shape}, but must be "
                       f"[{len(images)}], one per image.")
  parts = []
  for size in grids:
    net = model.energy_nets[model.model_grids.index(size)]
    activations = conv_activation_model(net)
    takes_labels = len(net.inputs) > 1
    if takes_labels and labels is None:
      raise ValueError(f"The grid-{size} energy net takes labels as an "
                       "input: pass labels [N].")
    chunks = []
    for start in range(0, len(images), batch_size):
      batch = pyramid.downsample(
          tf.constant(images[start:start + batch_size]), size)
      inputs = ([batch, tf.constant(labels[start:start + batch_size])]
                if takes_labels else batch)
      maps = activations(inputs, training=False)
      maps = maps if isinstance(maps, (list, tuple)) else [maps]
      chunks.append(np.asarray(reduce([tf.cast(m, tf.float32)
                                       for m in maps])))
    parts.append(np.concatenate(chunks))
  return np.concatenate(parts, axis=-1).astype(np.float32)


def extract_features(model, images, labels=None, batch_size: int = 500,
                     grids: Optional[Sequence[int]] = None,
                     pool_grid: int = 2) -> np.ndarray:
  """Energy-net features of images: float32 [N, D].

  Args:
    model: a `MultigridEBM` (anything with `energy_nets`, `model_grids`,
      `grid_sizes`, `channels`).
    images: [N, S, S, C] in [-1, 1], S the model's finest grid.
    labels: int [N]; only used by energy nets that take labels as a second
      input (the conv trunk of `MultigridEBM`'s nets, conditional or not,
      sees the image only, so it is ignored there).
    batch_size: images per forward pass (memory only; no effect on values).
    grids: model grid sizes whose nets to use (default: all, coarse first).
    pool_grid: each conv layer's activation is max-pooled to at most
      pool_grid x pool_grid cells (see the module docstring).

  Returns:
    [N, D] float32: per grid, per conv layer, the flattened pooled map.
  """
  if not isinstance(pool_grid, int) or pool_grid <= 0:
    raise ValueError(f"pool_grid={pool_grid!r} must be a positive int, e.g. "
                     "2.")

  def pool_and_flatten(maps):
    return tf.concat([tf.reshape(adaptive_max_pool(m, pool_grid),
                                 [m.shape[0], -1]) for m in maps], axis=1)

  return _grid_outputs(model, images, labels, batch_size, grids,
                       pool_and_flatten)


def resample_maps(maps: tf.Tensor, size: int) -> tf.Tensor:
  """Square maps [B, h, h, K] -> [B, size, size, K].

  Larger maps are max-pooled (`adaptive_max_pool`), smaller ones repeated
  nearest-neighbour (`tf.image.resize(method="nearest")`; a 2x2 map becomes
  2x2 blocks of a 4x4 one), equal ones returned as they are.
  """
  height = int(maps.shape[1])
  if height > size:
    return adaptive_max_pool(maps, size)
  if height < size:
    return tf.image.resize(maps, [size, size], method="nearest")
  return maps


def feature_map_size(model, grids: Optional[Sequence[int]] = None) -> int:
  """m of `feature_maps`: the finest chosen net's last conv map side."""
  grids = _check_grids(model, grids)
  net = model.energy_nets[model.model_grids.index(max(grids))]
  return int(conv_activations(net)[-1][1].shape[1])


def feature_maps(model, images, labels=None, batch_size: int = 500,
                 grids: Optional[Sequence[int]] = None,
                 map_size: Optional[int] = None) -> np.ndarray:
  """The conv activations of all grids' energy nets as one stack of maps.

  Args:
    model, images, labels, batch_size, grids: as in `extract_features`.
    map_size: the side m every map is resampled to (`resample_maps`);
      default `feature_map_size(model, grids)` (4 for the digits preset).

  Returns:
    float32 [N, m, m, K]: per grid (coarse first) and per conv layer, that
    layer's activation resampled to m x m, stacked along the channels. K is
    the sum of the conv widths (digits preset: 64 + 64 + 128 + 128 = 384).
    Values are activations (unbounded, mostly small).
  """
  map_size = feature_map_size(model, grids) if map_size is None else map_size
  if not isinstance(map_size, int) or map_size <= 0:
    raise ValueError(f"map_size={map_size!r} must be a positive int, e.g. 4.")

  def resample_and_stack(maps):
    return tf.concat([resample_maps(m, map_size) for m in maps], axis=-1)

  return _grid_outputs(model, images, labels, batch_size, grids,
                       resample_and_stack)


def balanced_subset(labels: np.ndarray, num_labelled: int,
                    seed: int = 0) -> np.ndarray:
  """Indices of `num_labelled` examples, as evenly spread over classes as can be.

  Every class gets num_labelled // K examples and num_labelled % K classes
  (chosen at random) one more; within a class the examples are random.
  Drawn with `np.random.default_rng(seed)`; returned sorted.
  """
  labels = np.asarray(labels)
  classes = np.unique(labels)
  if not isinstance(num_labelled, (int, np.integer)) or num_labelled <= 0:
    raise ValueError(f"num_labelled={num_labelled!r} must be a positive int.")
  if num_labelled > len(labels):
    raise ValueError(f"num_labelled={num_labelled} is larger than the "
                     f"{len(labels)} labelled training examples; pass at most "
                     f"{len(labels)}.")
  if num_labelled < len(classes):
    raise ValueError(f"num_labelled={num_labelled} is fewer than the "
                     f"{len(classes)} classes; pass at least one per class.")
  rng = np.random.default_rng(seed)
  quota = np.full(len(classes), num_labelled // len(classes))
  quota[rng.permutation(len(classes))[:num_labelled % len(classes)]] += 1
  chosen = []
  for label, count in zip(classes, quota):
    members = np.flatnonzero(labels == label)
    if len(members) < count:
      raise ValueError(
          f"num_labelled={num_labelled} needs {count} examples of class "
          f"{label}, but the training split has {len(members)}; pass a "
          "smaller num_labelled.")
    chosen.append(rng.permutation(members)[:count])
  return np.sort(np.concatenate(chosen))


def svm_test_error(train_features: np.ndarray, train_labels: np.ndarray,
                   test_features: np.ndarray, test_labels: np.ndarray,
                   c: float = SVM_C) -> float:
  """Test error in [0, 1] of a LinearSVC (L2-SVM) on standardised features.

  The standardisation (zero mean, unit variance per feature) is fitted on the
  training features only.
  """
  scaler = preprocessing.StandardScaler().fit(train_features)
  # The primal solver: measured 10-20x faster than the dual one here.
  classifier = svm.LinearSVC(C=c, max_iter=SVM_MAX_ITER, dual=False)
  classifier.fit(scaler.transform(train_features), train_labels)
  predicted = classifier.predict(scaler.transform(test_features))
  return float(np.mean(predicted != np.asarray(test_labels)))


def build_supervised_cnn(model, num_classes: int, seed: int = 0
                         ) -> keras.Model:
  """The finest grid's energy-net architecture with a softmax head.

  Same conv layers as `build_energy_net` for the finest grid (its preset at
  the model's `net_width` and `activation`), then a `num_classes`-way softmax
  instead of the score; every kernel is Glorot-uniform seeded from `seed`,
  biases zero, so the same seed builds the same weights.
  """
  size = model.grid_sizes[-1]
  spec = energy.energy_net_spec(size, model.net_width, model.activation)
  trunk = energy.build_energy_net(size, model.channels, spec,
                                  name="supervised_trunk")
  features = trunk.get_layer("score").input
  probabilities = keras.layers.Dense(num_classes, activation="softmax",
                                     name="probabilities")(features)
  cnn = keras.Model(trunk.inputs, probabilities,
                    name=f"supervised_cnn_{size}px")
  for index, layer in enumerate(l for l in cnn.layers if l.weights):
    kernel, bias = layer.weights[0], layer.weights[1]
    kernel.assign(keras.initializers.GlorotUniform(seed=seed + index)(
        kernel.shape))
    bias.assign(np.zeros(bias.shape, np.float32))
  return cnn


def supervised_cnn_test_error(model, train_images: np.ndarray,
                              train_labels: np.ndarray,
                              test_images: np.ndarray,
                              test_labels: np.ndarray, num_classes: int,
                              seed: int = 0, epochs: int = CNN_EPOCHS
                              ) -> float:
  """Test error in [0, 1] of `build_supervised_cnn` trained on the given set.

  Adam(1e-3), batch 32, `epochs` passes over the (small) labelled set, batch
  order from `np.random.default_rng(seed)`; no augmentation.
  """
  cnn = build_supervised_cnn(model, num_classes, seed)
  cnn.compile(optimizer=keras.optimizers.Adam(CNN_LEARNING_RATE),
              loss="sparse_categorical_crossentropy", jit_compile=False)
  rng = np.random.default_rng(seed)
  for epoch in range(epochs):
    order = rng.permutation(len(train_images))
    cnn.fit(train_images[order], train_labels[order],
            batch_size=CNN_BATCH_SIZE, epochs=epoch + 1, initial_epoch=epoch,
            shuffle=False, verbose=0)
  probabilities = cnn.predict(test_images, batch_size=500, verbose=0)
  return float(np.mean(np.argmax(probabilities, axis=1) != test_labels))


def feature_cnn_validation_slice(labels: np.ndarray, seed: int = 0
                                 ) -> np.ndarray:
  """Positions (sorted) in a labelled set held out for early stopping.

  max(K, round(FEATURE_CNN_VALIDATION_FRACTION * N)) of the N labels,
  spread over the K classes as `balanced_subset` does (seed `seed`), so
  every class has at least one example on each side. Raises ValueError
  naming the class when one has fewer than 2 labelled examples.
  """
  labels = np.asarray(labels)
  classes, counts = np.unique(labels, return_counts=True)
  if len(classes) and counts.min() < 2:
    short = classes[np.argmin(counts)]
    raise ValueError(
        f"num_labelled={len(labels)} gives class {short} only "
        f"{counts.min()} labelled example, but the CNN on feature maps needs "
        "at least 2 per class (one for its early-stopping validation slice); "
        f"pass --num_labelled >= {2 * len(classes)}, or "
        "--feature_cnn_epochs=0 to skip that row.")
  count = max(len(classes),
              int(round(FEATURE_CNN_VALIDATION_FRACTION * len(labels))))
  return balanced_subset(labels, count, seed)


def build_feature_cnn(train_maps: np.ndarray, num_classes: int,
                      seed: int = 0) -> keras.Model:
  """The 2-layer CNN on feature maps [B, m, m, K] -> probabilities [B, C].

  A per-channel standardisation (mean and variance of `train_maps` over
  examples and positions, fixed), then two 3x3 'same' conv layers of
  FEATURE_CNN_FILTERS filters with LeakyReLU(0.2), dropout
  FEATURE_CNN_DROPOUT and a softmax layer. Float32 whatever the global
  dtype policy; kernels Glorot-uniform and dropout seeded from `seed`,
  biases zero, so the same seed builds the same model.
  """
  train_maps = np.asarray(train_maps, np.float32)
  mean = train_maps.mean(axis=(0, 1, 2))
  variance = train_maps.var(axis=(0, 1, 2))
  with precision.policy("float32"):
    inputs = keras.Input(train_maps.shape[1:], name="feature_maps")
    x = keras.layers.Normalization(axis=-1, mean=mean, variance=variance,
                                   name="standardise")(inputs)
    for index in range(2):
      x = keras.layers.Conv2D(
          FEATURE_CNN_FILTERS, 3, padding="same", name=f"conv{index + 1}",
          kernel_initializer=keras.initializers.GlorotUniform(seed + index))(x)
      x = activations.LeakyReLU(negative_slope=0.2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(FEATURE_CNN_DROPOUT, seed=seed)(x)
    probabilities = keras.layers.Dense(
        num_classes, activation="softmax", name="probabilities",
        kernel_initializer=keras.initializers.GlorotUniform(seed + 2))(x)
    cnn = keras.Model(inputs, probabilities, name="feature_map_cnn")
  cnn.compile(optimizer=keras.optimizers.Adam(FEATURE_CNN_LEARNING_RATE),
              loss="sparse_categorical_crossentropy", jit_compile=False)
  return cnn


def _fit_epoch(cnn, maps, labels, rng) -> None:
  """One pass in the order `rng.permutation`; `train_on_batch` per batch
  (measured 3x less CPU than a `fit` call per epoch on these small sets)."""
  order = rng.permutation(len(maps))
  for start in range(0, len(order), FEATURE_CNN_BATCH_SIZE):
    batch = order[start:start + FEATURE_CNN_BATCH_SIZE]
    cnn.train_on_batch(maps[batch], labels[batch])


def _cross_entropy(cnn, maps, labels) -> float:
  probabilities = cnn.predict_on_batch(maps)
  return float(np.mean(keras.losses.sparse_categorical_crossentropy(
      labels, probabilities)))


def feature_cnn_test_error(train_maps: np.ndarray, train_labels: np.ndarray,
                           test_maps: np.ndarray, test_labels: np.ndarray,
                           num_classes: int, seed: int = 0,
                           max_epochs: int = FEATURE_CNN_EPOCHS,
                           patience: int = FEATURE_CNN_PATIENCE
                           ) -> tuple[float, int]:
  """(test error in [0, 1], epochs trained) of `build_feature_cnn`.

  The labelled maps are split (`feature_cnn_validation_slice`): the CNN is
  trained on the rest, Adam(1e-3), batch 32, batch order from
  `np.random.default_rng(seed)`, until the validation cross-entropy has not
  improved for `patience` epochs or `max_epochs` are done; E is the epoch of
  the lowest validation loss. A new CNN from the same seed is then trained
  E epochs on the whole labelled set (validation slice included) and
  scored on the test maps.

  Args:
    train_maps, test_maps: float32 [N, m, m, K] from `feature_maps`.
    train_labels, test_labels: int [N] class labels in [0, num_classes).
    num_classes: C, the width of the softmax.
    seed: seeds the slice, the weights, dropout and the batch order.
    max_epochs: the most epochs of the early-stopping run (>= 1).
    patience: epochs without a better validation loss before it stops.
  """
  if not isinstance(max_epochs, int) or max_epochs < 1:
    raise ValueError(f"max_epochs={max_epochs!r} must be an int >= 1.")
  if not isinstance(patience, int) or patience < 1:
    raise ValueError(f"patience={patience!r} must be an int >= 1.")
  train_maps = np.asarray(train_maps, np.float32)
  train_labels = np.asarray(train_labels, np.int64)
  validation = feature_cnn_validation_slice(train_labels, seed)
  fit = np.setdiff1d(np.arange(len(train_labels)), validation)
  cnn = build_feature_cnn(train_maps[fit], num_classes, seed)
  rng = np.random.default_rng(seed)
  best_loss, best_epochs = np.inf, 1
  for epoch in range(1, max_epochs + 1):
    _fit_epoch(cnn, train_maps[fit], train_labels[fit], rng)
    loss = _cross_entropy(cnn, train_maps[validation],
                          train_labels[validation])
    if loss < best_loss:
      best_loss, best_epochs = loss, epoch
    elif epoch - best_epochs >= patience:
      break
  cnn = build_feature_cnn(train_maps, num_classes, seed)
  rng = np.random.default_rng(seed + 1)
  for _ in range(best_epochs):
    _fit_epoch(cnn, train_maps, train_labels, rng)
  probabilities = cnn.predict(np.asarray(test_maps, np.float32),
                              batch_size=500, verbose=0)
  error = float(np.mean(np.argmax(probabilities, axis=1)
                        != np.asarray(test_labels)))
  return error, best_epochs


def evaluate_features(model, train_images, train_labels, test_images,
                      test_labels, num_labelled=(100, 300, 1000),
                      seed: int = 0, grids: Optional[Sequence[int]] = None,
                      cnn_epochs: int = CNN_EPOCHS,
                      feature_cnn_epochs: int = FEATURE_CNN_EPOCHS,
                      feature_map_size: Optional[int] = None) -> list[dict]:
  """Semi-supervised classification with the model's features (paper Exp. 2).

  Args:
    model: a trained `MultigridEBM`.
    train_images, test_images: [N, S, S, C] in [-1, 1].
    train_labels, test_labels: int [N] class labels (>= 0).
    num_labelled: labelled training examples per setting; each draws a
      balanced subset (`balanced_subset`, seed `seed`).
    seed: seeds the subsets, the supervised CNNs and the feature-map CNNs.
    grids: the model grids whose features the SVM uses (default all; the
      feature-map CNN always uses every grid, as the paper's).
    cnn_epochs: passes of the supervised reference CNN over its subset;
      0 skips it (supervised_cnn_error is then None).
    feature_cnn_epochs: the most epochs of the CNN on the feature maps of
      all grids (`feature_cnn_test_error`, early-stopped); 0 skips it
      (feature_cnn_error and feature_cnn_epochs_trained are then None).
      Needs >= 2 labelled examples per class.
    feature_map_size: m of `feature_maps` (default `feature_map_size`).

  Returns:
    One dict per setting: {num_labelled, svm_error, supervised_cnn_error,
    feature_cnn_error, feature_cnn_epochs_trained}, errors on the test split
    in [0, 1].
  """
  train_images = _check_images(train_images, "train_images",
                               model.grid_sizes[-1], model.channels)
  test_images = _check_images(test_images, "test_images",
                              model.grid_sizes[-1], model.channels)
  train_labels = np.asarray(train_labels, np.int64)
  test_labels = np.asarray(test_labels, np.int64)
  for name, images, labels in (("train", train_images, train_labels),
                               ("test", test_images, test_labels)):
    if labels.shape != images.shape[:1]:
      raise ValueError(f"{name}_labels has shape {labels.shape}, but must be "
                       f"[{len(images)}], one per image.")
    if labels.min() < 0:
      raise ValueError(f"{name}_labels hold {labels.min()}: feature "
                       "evaluation needs class labels >= 0 (an unlabelled "
                       "source gives -1).")
  for name, value in (("cnn_epochs", cnn_epochs),
                      ("feature_cnn_epochs", feature_cnn_epochs)):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise ValueError(f"{name}={value!r} must be an int >= 0 (0 skips "
                       "that row).")
  if feature_map_size is not None and (
      isinstance(feature_map_size, bool)
      or not isinstance(feature_map_size, int) or feature_map_size <= 0):
    raise ValueError(f"feature_map_size={feature_map_size!r} must be a "
                     "positive int, e.g. 4, or None for the default.")
  settings = [num_labelled] if isinstance(num_labelled, int) else list(
      num_labelled)
  subsets = [balanced_subset(train_labels, n, seed) for n in settings]
  if feature_cnn_epochs:
    for subset in subsets:  # Fails before the slow part.
      feature_cnn_validation_slice(train_labels[subset], seed)
  num_classes = int(max(train_labels.max(), test_labels.max())) + 1
  train_features = extract_features(model, train_images, grids=grids)
  test_features = extract_features(model, test_images, grids=grids)
  if feature_cnn_epochs:
    # Maps of the labelled images only: the rest of the split is not used.
    labelled = np.unique(np.concatenate(subsets))
    train_maps = feature_maps(model, train_images[labelled],
                              map_size=feature_map_size)
    test_maps = feature_maps(model, test_images, map_size=feature_map_size)
  rows = []
  for count, subset in zip(settings, subsets):
    svm_error = svm_test_error(train_features[subset], train_labels[subset],
                               test_features, test_labels)
    cnn_error = None
    if cnn_epochs:
      cnn_error = supervised_cnn_test_error(
          model, train_images[subset], train_labels[subset], test_images,
          test_labels, num_classes, seed, cnn_epochs)
    map_error = map_epochs = None
    if feature_cnn_epochs:
      map_error, map_epochs = feature_cnn_test_error(
          train_maps[np.searchsorted(labelled, subset)],
          train_labels[subset], test_maps, test_labels, num_classes, seed,
          feature_cnn_epochs)
    rows.append({"num_labelled": int(count), "svm_error": svm_error,
                 "supervised_cnn_error": cnn_error,
                 "feature_cnn_error": map_error,
                 "feature_cnn_epochs_trained": map_epochs})
  return rows


def feature_dimension(model, grids: Optional[Sequence[int]] = None,
                      pool_grid: int = 2) -> int:
  """D of `extract_features` for `model` (from the nets' static shapes)."""
  grids = tuple(model.model_grids) if grids is None else tuple(grids)
  total = 0
  for size in grids:
    net = model.energy_nets[model.model_grids.index(size)]
    for _, output in conv_activations(net):
      _, height, width, depth = output.shape
      total += min(height, pool_grid) * min(width, pool_grid) * depth
  return int(total)



def feature_map_shape(model, map_size: Optional[int] = None
                      ) -> tuple[int, int, int]:
  """(m, m, K) of `feature_maps(model, ..., map_size=map_size)`, all grids."""
  size = feature_map_size(model) if map_size is None else int(map_size)
  depth = sum(int(output.shape[-1]) for net in model.energy_nets
              for _, output in conv_activations(net))
  return size, size, depth
