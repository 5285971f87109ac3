"""Declaring and checking settings: one field, one default, one check.

A setting is a field of a frozen config dataclass declared with
`setting(default, help)`; the apps generate their flags from these fields
(name, type, default and help), so a setting is declared once. The checks
below raise `ValueError` naming the setting (= the flag), the value received
and a fix; configs and models call them, never re-implement them.
Pure Python: importing this module starts no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Optional, Sequence


def setting(default: Any, help: str, choices: Optional[Sequence[str]] = None,
            flag: bool = True):  # pylint: disable=redefined-builtin
  """A config field with its one-line help (and valid values, if a choice).

  `flag=False` keeps it out of the command line (set by code only).
  """
  metadata = {"help": help, "choices": tuple(choices) if choices else None,
              "flag": flag}
  if isinstance(default, (list, tuple)):
    value = tuple(default)
    return dataclasses.field(default_factory=lambda: value, metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


def help_of(field: dataclasses.Field) -> str:
  return field.metadata.get("help", "")


def _is_int(value) -> bool:
  return not isinstance(value, bool) and isinstance(value, int)


def positive_int(name: str, value: Any, example: Any = None) -> None:
  if not _is_int(value) or value <= 0:
    hint = f", e.g. {example}" if example is not None else ""
    raise ValueError(f"{name}={value!r} must be a positive integer{hint}.")


def non_negative_int(name: str, value: Any, example: Any = None) -> None:
  if not _is_int(value) or value < 0:
    hint = f", e.g. {example}" if example is not None else ""
    raise ValueError(f"{name}={value!r} must be an integer >= 0{hint}.")


def _is_number(value) -> bool:
  return (not isinstance(value, bool) and isinstance(value, (int, float))
          and math.isfinite(value))


def positive(name: str, value: Any, example: Any) -> None:
  """A finite number > 0."""
  if not _is_number(value) or not value > 0:
    raise ValueError(f"{name}={value!r} must be a finite number > 0, e.g. "
                     f"{example}.")


def non_negative(name: str, value: Any, example: Any) -> None:
  """A finite number >= 0."""
  if not _is_number(value) or not value >= 0:
    raise ValueError(f"{name}={value!r} must be a finite number >= 0, e.g. "
                     f"{example}.")


def in_range(name: str, value: Any, low: float, high: float,
             example: Any) -> None:
  """A finite number in [low, high)."""
  if not _is_number(value) or not low <= value < high:
    raise ValueError(f"{name}={value!r} must be in [{low}, {high}), e.g. "
                     f"{example}.")


def each(check, name: str, values: Iterable, *args) -> None:
  """Applies `check(name, v, *args)` to every value of a list setting."""
  values = list(values)
  for value in values:
    try:
      check(name, value, *args)
    except ValueError as error:
      raise ValueError(f"{name}={values!r}: {error}") from None


def choice(name: str, value: Any, choices: Sequence[str]) -> None:
  if value not in choices:
    raise ValueError(f"{name}={value!r} is not one of {list(choices)}.")


def one_or_per(name: str, values: Sequence, count: int, what: str) -> None:
  """A list setting with one value, or one per `what` (`count` of them)."""
  if len(values) not in (1, count):
    raise ValueError(f"{name}={list(values)} needs one value or one per "
                     f"{what} ({count}).")
