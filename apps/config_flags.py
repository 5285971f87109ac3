"""absl flags generated from the config dataclasses: each setting once.

Every field of `DataConfig`, `TrainConfig` and of each registered family's
settings dataclass (`tfgen.families`) becomes one flag of the same name,
type, default and help (`tfgen.core.settings.setting`). A model flag that several
families declare is one flag. `config_from_flags()` reads them back into an
`ExperimentConfig`: a model setting not given on the command line (or in a
flagfile) takes the chosen family's own default, and a model flag of another
family given there is refused, naming the flag and its family.
"""

from __future__ import annotations

import dataclasses

from absl import app
from absl import flags

from tfgen import config as config_lib
from tfgen import families

FLAGS = flags.FLAGS
FAMILY = flags.DEFINE_enum(
    "family", "multigrid", families.names(),
    "Model family: " + "; ".join(
        f"{f.name} = {f.summary}" for f in families.FAMILIES.values()) + ".")

# Flag name -> the families whose settings declare it.
OWNERS: dict[str, list[str]] = {}


def _kind(field: dataclasses.Field, default):
  """(absl DEFINE function, element type of a list) of a field."""
  annotation = str(field.type)
  if isinstance(default, tuple):
    if "float" in annotation:
      return "list", float
    if "int" in annotation:
      return "list", int
    return "list", str
  if isinstance(default, bool) or annotation == "bool":
    return "bool", None
  if isinstance(default, int) or annotation == "int":
    return "integer", None
  if isinstance(default, float) or annotation == "float":
    return "float", None
  return "string", None


def _default(field: dataclasses.Field):
  if field.default_factory is not dataclasses.MISSING:  # type: ignore
    return field.default_factory()  # type: ignore
  return field.default


def _define(field: dataclasses.Field, owners_note: str = "") -> None:
  default = _default(field)
  kind, _ = _kind(field, default)
  help_text = field.metadata.get("help", "") + owners_note
  choices = field.metadata.get("choices")
  if choices:
    flags.DEFINE_enum(field.name, default, list(choices), help_text)
  elif kind == "list":
    flags.DEFINE_list(field.name, [str(v) for v in default], help_text)
  else:
    getattr(flags, f"DEFINE_{kind}")(field.name, default, help_text)


def _flag_fields(kind) -> list:
  return [f for f in dataclasses.fields(kind) if f.metadata.get("flag", True)]


def define_all() -> None:
  """Defines the data, training and every family's model flags (once)."""
  for kind in (config_lib.DataConfig, config_lib.TrainConfig):
    for field in _flag_fields(kind):
      _define(field)
  fields_by_name: dict[str, dataclasses.Field] = {}
  for family in families.FAMILIES.values():
    for field in _flag_fields(family.config_class):
      OWNERS.setdefault(field.name, []).append(family.name)
      fields_by_name.setdefault(field.name, field)
  for name, field in fields_by_name.items():
    owners = OWNERS[name]
    _define(field, f" [--family={'|'.join(owners)}]")


def _value(field: dataclasses.Field, section: str):
  flag = FLAGS[field.name]
  default = _default(field)
  kind, element = _kind(field, default)
  if section == "model" and not flag.present:
    return default  # The chosen family's own default.
  if kind != "list" or flag.value is None:
    return flag.value
  try:
    return tuple(element(v) for v in flag.value)
  except ValueError as error:
    raise app.UsageError(
        f"--{field.name}={','.join(flag.value)} must be a comma-separated "
        f"list of {element.__name__}s ({error}).") from error


def check_family_flags(family_name: str) -> None:
  """UsageError for a model flag of another family given explicitly."""
  for name, owners in OWNERS.items():
    if family_name not in owners and FLAGS[name].present:
      raise app.UsageError(
          f"--{name} is a setting of --family={'/'.join(owners)}, not of "
          f"--family={family_name}: drop it, or pass "
          f"--family={owners[0]}.")


def config_from_flags() -> config_lib.ExperimentConfig:
  """The ExperimentConfig the flags describe (not yet validated)."""
  family = families.get(FAMILY.value)
  check_family_flags(family.name)

  def section(kind, name):
    return kind(**{field.name: _value(field, name)
                   for field in _flag_fields(kind)})

  return config_lib.ExperimentConfig(
      family=family.name,
      data=section(config_lib.DataConfig, "data"),
      model=section(family.config_class, "model"),
      train=section(config_lib.TrainConfig, "train"))
