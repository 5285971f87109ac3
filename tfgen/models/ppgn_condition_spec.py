"""The one syntax of PPGN conditions (`--condition=...`, and in Python).

Pure Python (no TensorFlow), so that the apps check a request before they
load a model. A condition is `KIND:VALUE[@WEIGHT]`:

| kind | value | the condition network |
|---|---|---|
| `class` | a class id, e.g. `class:7`; a comma list is a schedule along the chain, `class:0,1,2` (equal segments) | E's class logits |
| `other_class` | a class id | the separately trained classifier C' (G never saw it) |
| `parity` | `odd` or `even` | C''s parity head |
| `loop` | `yes` (0, 6, 8, 9) or `no` | C''s closed-loop head |
| `unit` | `conv:K` (channel K of C''s last conv map, centre position) or `dense:K` (unit K of C''s feature layer) | C' |
| `caption` | words, e.g. `caption:an odd digit with a loop` | the captioner |

`WEIGHT` (default 1) multiplies the condition's term; several conditions
add up (a weighted sum of log-probabilities).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

KINDS = ("class", "other_class", "parity", "loop", "unit", "caption")
PARITY = ("even", "odd")          # index = parity logit
LOOP = ("no", "yes")              # index = loop logit
UNIT_LAYERS = ("conv", "dense")
LOOP_DIGITS = (0, 6, 8, 9)


@dataclasses.dataclass(frozen=True)
class ConditionSpec:
  """One parsed condition.

  kind: one of KINDS. values: class ids (a schedule if several), the parity
  or loop index, (layer, unit) for 'unit', or the words of a caption.
  weight: the term's multiplier (> 0). text: what was parsed.
  """
  kind: str
  values: tuple
  weight: float = 1.0
  text: str = ""


def _fail(text: str, problem: str, fix: str):
  raise ValueError(f"condition={text!r}: {problem}; {fix}")


def _class_id(text: str, value: str, num_classes: int) -> int:
  try:
    class_id = int(value)
  except ValueError:
    _fail(text, f"class {value!r} is not an integer",
          f"use a class in [0, {num_classes}), e.g. class:7")
  if not 0 <= class_id < num_classes:
    _fail(text, f"class {class_id} is out of range",
          f"use a class in [0, {num_classes})")
  return class_id


def parse_condition(text: str, num_classes: int,
                    num_units: Optional[dict] = None,
                    vocabulary: Optional[Sequence[str]] = None
                    ) -> ConditionSpec:
  """Parses one `KIND:VALUE[@WEIGHT]` (see the module docstring).

  Args:
    text: the condition.
    num_classes: classes of the model's data.
    num_units: {'conv': channels, 'dense': units} of the condition net
      (None: unit ids are not range-checked).
    vocabulary: the captioner's words (None: captions are refused).

  Raises:
    ValueError naming the condition, the problem and the fix.
  """
  if not isinstance(text, str) or ":" not in text:
    raise ValueError(f"condition={text!r} must be KIND:VALUE[@WEIGHT] with "
                     f"KIND one of {', '.join(KINDS)}, e.g. class:7 or "
                     "parity:odd@0.5.")
  body, weight = text, 1.0
  if "@" in text:
    body, _, weight_text = text.rpartition("@")
    try:
      weight = float(weight_text)
    except ValueError:
      _fail(text, f"weight {weight_text!r} is not a number",
            "write the weight after @ as a number > 0, e.g. parity:odd@0.5")
    if not (math.isfinite(weight) and weight > 0):
      _fail(text, f"weight {weight_text!r} must be a finite number > 0",
            "e.g. @0.5")
  kind, _, value = body.partition(":")
  kind, value = kind.strip().lower(), value.strip()
  if kind not in KINDS:
    _fail(text, f"unknown condition kind {kind!r}",
          f"use one of {', '.join(KINDS)}")
  if not value:
    _fail(text, "the value is empty", "write e.g. class:7")
  if kind == "class":
    values = tuple(_class_id(text, v.strip(), num_classes)
                   for v in value.split(","))
  elif kind == "other_class":
    values = (_class_id(text, value, num_classes),)
  elif kind in ("parity", "loop"):
    choices = PARITY if kind == "parity" else LOOP
    if value.lower() not in choices:
      _fail(text, f"{kind} value {value!r} is not one of {choices}",
            f"e.g. {kind}:{choices[1]}")
    values = (choices.index(value.lower()),)
  elif kind == "unit":
    layer, _, unit = value.partition(":")
    if layer not in UNIT_LAYERS:
      _fail(text, f"unit layer {layer!r} is not one of {UNIT_LAYERS}",
            "e.g. unit:conv:5 or unit:dense:17")
    try:
      unit_id = int(unit)
    except ValueError:
      _fail(text, f"unit {unit!r} is not an integer", "e.g. unit:conv:5")
    limit = (num_units or {}).get(layer)
    if unit_id < 0 or (limit is not None and unit_id >= limit):
      _fail(text, f"unit {unit_id} is out of range",
            f"use a unit in [0, {limit}) of layer {layer}")
    values = (layer, unit_id)
  else:  # caption
    if vocabulary is None:
      _fail(text, "this model has no captioner",
            "train one with --captioner (as apps/configs/ppgn_digits.cfg "
            "does; runs from before the captioner have none), or drop the "
            "caption condition")
    words = tuple(value.lower().split())
    unknown = [w for w in words if w not in vocabulary]
    if unknown:
      _fail(text, f"word {unknown[0]!r} is not in the captioner's vocabulary",
            f"use words from: {' '.join(sorted(vocabulary))}")
    values = words
  return ConditionSpec(kind, values, weight, text)


def parse_conditions(texts: Sequence[str], num_classes: int,
                     num_units: Optional[dict] = None,
                     vocabulary: Optional[Sequence[str]] = None
                     ) -> tuple[ConditionSpec, ...]:
  """Parses every condition (see `parse_condition`); at most one schedule."""
  if isinstance(texts, str):
    texts = [texts]
  specs = tuple(parse_condition(t, num_classes, num_units, vocabulary)
                for t in texts)
  if sum(1 for s in specs if s.kind == "class" and len(s.values) > 1) > 1:
    raise ValueError(f"condition={list(texts)!r}: at most one class schedule "
                     "(class:a,b,...) per chain; merge them into one.")
  return specs


def needs_condition_net(specs: Sequence[ConditionSpec]) -> bool:
  """Whether any condition reads the separately trained condition net C'."""
  return any(s.kind in ("other_class", "parity", "loop", "unit")
             for s in specs)


def is_odd(label: int) -> bool:
  return int(label) % 2 == 1


def has_loop(label: int) -> bool:
  return int(label) in LOOP_DIGITS
