"""Steps as a request input: every iterative family's `sample_steps`.

Parametrized over the registry (`tfgen.families`): a family with the
`serving_steps` capability serves `sample_steps` (its `serving_default`
inputs plus `num_steps`, bounded by `max_steps`), whose image for a seed
and a number of steps is the image `serving_default` gives when exported
with that many steps; other steps give other images, and out-of-range
values are refused naming the input and the range. A family without steps
refuses `--max_steps` and says why. Tiny untrained models (the families'
`tiny_settings`), in process; the exported SavedModel is checked in
export_test.py (saved_model_cli) and client_test.py (the dev server).
"""

import functools
import sys

import numpy as np
import pytest
import tensorflow as tf

import support
from tfgen import families
from tfgen.serving import signature_spec

FAMILIES = families.names()
MAX_STEPS = 4
SEEDS = (3, 4)


@functools.lru_cache(maxsize=None)
def built(family: str):
  """The tiny model of `family`, ready to sample (adapted if it needs it).

  Built once per family: sampling does not change a model.
  """
  model = families.build_model(support.tiny_config(family))
  if model.needs_adapt:
    images, labels = support.digits("train", 8, 32)
    model.adapt(images, labels=labels)
  return model


def request(signature, num_steps=None) -> dict:
  """{input: tensor} of SEEDS (class 1 where the signature takes one)."""
  inputs = {"seed": tf.constant(SEEDS, tf.int64)}
  if "class_id" in [spec.name for spec in signature.inputs]:
    inputs["class_id"] = tf.ones([len(SEEDS)], tf.int64)
  if num_steps is not None:
    inputs["num_steps"] = tf.constant(num_steps, tf.int64)
  return inputs


@pytest.mark.parametrize("family", FAMILIES)
def test_iterative_families_take_steps_per_request_and_others_refuse(family):
  model = built(family)
  if not families.get(family).has("serving_steps"):
    with pytest.raises(ValueError, match=r"--max_steps=4 applies to "
                       rf"families with sampler steps .*a '{family}' model "
                       "has none. Drop the flag."):
      families.signatures(model, max_steps=MAX_STEPS)
    names = [s.name for s in families.signatures(model)]
    assert signature_spec.STEPS_SIGNATURE not in names
    refusal = families.steps_refusal(model)
    assert f"this is a '{family}' model" in refusal
    assert "without num_steps" in refusal
    return
  assert families.steps_refusal(model) is None
  signatures = {s.name: s for s in families.signatures(
      model, max_steps=MAX_STEPS)}
  steps = signatures[signature_spec.STEPS_SIGNATURE]
  default = signatures["serving_default"]
  assert [spec.name for spec in steps.inputs] == [
      spec.name for spec in default.inputs] + ["num_steps"]
  assert steps.steps.max_steps == MAX_STEPS
  dynamic = tf.function(steps.generate)  # One trace for every step count.

  def at(count):
    return dynamic(**request(steps, [count] * len(SEEDS))).numpy()

  # The image of 3 request steps is the image of an export with 3 steps
  # baked in (the seed and the steps determine it), and 1 step differs.
  exported = families.signatures(model, num_steps=3, max_steps=MAX_STEPS)[0]
  three = at(3)
  np.testing.assert_array_equal(
      three, tf.function(exported.generate)(**request(exported)))
  np.testing.assert_array_equal(three, at(3))
  assert np.abs(three - at(1)).max() > 1e-4


BAD_STEPS = (
    ([0, 0], r"num_steps: values \[0 0\] must be in \[1, 4\] \(the "
     r"max_steps of this export\)\."),
    ([5, 5], r"num_steps: values \[5 5\] must be in \[1, 4\]"),
    ([1, 2], r"num_steps: values \[1 2\] must be the same for every "
     r"instance of a request\."),
)


@pytest.mark.parametrize("family", [
    f for f in FAMILIES if families.get(f).has("serving_steps")])
def test_out_of_range_steps_are_refused_naming_the_input_and_range(family):
  signature = {s.name: s for s in families.signatures(
      built(family), max_steps=MAX_STEPS)}[signature_spec.STEPS_SIGNATURE]
  for num_steps, message in BAD_STEPS:
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
      signature.validate(**request(signature, num_steps))  # Eager checks.


def test_max_steps_must_be_a_positive_int_at_least_the_exported_steps():
  model = support.tiny_multigrid()
  for bad in (0, True, 2.5):
    with pytest.raises(ValueError, match=rf"--max_steps={bad!r} must be an "
                       r"integer >= 1, e.g. --max_steps=1000\."):
      families.signatures(model, max_steps=bad)
  with pytest.raises(ValueError, match=r"--max_steps=2 is below this "
                     r"export's default steps \[3, 3\] \(Langevin steps on "
                     r"every grid; --serving_steps or the trained ones\): "
                     r"raise --max_steps to at least 3 or lower "
                     r"--serving_steps\."):
    families.signatures(model, num_steps=3, max_steps=2)
  steps = families.signatures(model, num_steps=[0, 1500])[1].steps
  assert (steps.max_steps, steps.example) == (1500, 1500)  # Raised to fit.
  assert steps.metadata("sample_steps") == {
      "accepted": True, "signature": "sample_steps", "input": "num_steps",
      "min": 1, "max": 1500,
      "allowed": "in [1, 1500] (the max_steps of this export)",
      "unit": "Langevin steps on every grid", "default": [0, 1500]}


if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))
