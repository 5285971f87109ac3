"""Behaviour of tfgen.config: validation, JSON round trip, resume conflicts."""

import sys
import dataclasses

import pytest

from tfgen import config as config_lib


def test_defaults_are_valid_and_describe_multigrid_on_digits():
  config = config_lib.ExperimentConfig().validate()
  assert config.data.dataset == "digits"
  assert config.model.grid_sizes[-1] == config.data.image_size
  assert config.data.channels == 1


def test_json_round_trip_gives_an_equal_config():
  config = config_lib.ExperimentConfig(
      model=config_lib.MultigridConfig(step_size=(0.3, 0.1)))
  assert config_lib.ExperimentConfig.from_json(config.to_json()) == config


def test_unknown_json_settings_are_rejected():
  with pytest.raises(ValueError, match="Unknown TrainConfig settings"):
    config_lib.ExperimentConfig.from_dict({"train": {"nmu_steps": 3}})


@pytest.mark.parametrize("section, changes, match", [
    ("data", dict(dataset="imagenet"), "dataset='imagenet'"),
    ("data", dict(image_size=32), "cannot reach image_size=32"),
    ("data", dict(folder_channels=2), "folder_channels=2"),
    ("model", dict(grid_sizes=(1, 16, 4)), "strictly increasing"),
    ("model", dict(step_size=(0.3, 0.2, 0.1)), "one per model grid"),
    ("model", dict(noise_scale=(-1.0,)), "noise_scale"),
    ("model", dict(num_langevin_steps=(0,)), "num_langevin_steps=0"),
    ("model", dict(reference_stddev=0.0), "reference_stddev"),
    ("train", dict(batch_size=0), "batch_size=0"),
    ("train", dict(num_steps=-1), "num_steps=-1"),
    ("train", dict(beta_1=1.0), "beta_1"),
    ("train", dict(strategy="tpu"), "strategy='tpu'"),
    ("train", dict(on_divergence="retry"), "on_divergence='retry'"),
    ("train", dict(divergence_backoff="momentum"),
     "divergence_backoff='momentum'"),
    ("train", dict(max_divergence_retries=-1), "max_divergence_retries=-1"),
    ("model", dict(method="pcd"), "method='pcd'"),
    ("model", dict(method="cd"), r"grid_sizes=\[1, 4, 16\] must be \[start"),
    ("model", dict(sampler="mala"), "sampler='mala'"),
    ("model", dict(num_leapfrog_steps=0), "num_leapfrog_steps=0"),
    ("model", dict(num_sampling_steps=(-1,)), "num_sampling_steps"),
    ("model", dict(num_sampling_steps=(1, 2, 3)), "num_sampling_steps"),
    ("model", dict(num_inpainting_steps=(-1,)), "num_inpainting_steps"),
    ("model", dict(num_inpainting_steps=(1, 2, 3)), "num_inpainting_steps"),
])
def test_invalid_settings_name_the_setting_and_value(section, changes, match):
  config = config_lib.ExperimentConfig()
  config = dataclasses.replace(
      config, **{section: dataclasses.replace(getattr(config, section),
                                              **changes)})
  with pytest.raises(ValueError, match=match):
    config.validate()


def test_persistent_cd_needs_a_bank_of_at_least_one_batch():
  model = config_lib.MultigridConfig(grid_sizes=(1, 16), noise_scale=(1.0,),
                                     method="persistent_cd",
                                     persistent_bank_size=50)
  with pytest.raises(ValueError, match="persistent_bank_size=50 must be >= "
                     "batch_size=100"):
    config_lib.ExperimentConfig(model=model).validate()
  with pytest.raises(ValueError, match="not supported"):
    config_lib.ExperimentConfig(model=dataclasses.replace(
        model, persistent_bank_size=500, condition_on_label=True)).validate()


def test_class_conditioning_needs_a_labelled_dataset():
  model = config_lib.MultigridConfig(condition_on_label=True)
  config_lib.ExperimentConfig(model=model).validate()  # digits: 10 classes.
  unlabelled = config_lib.ExperimentConfig(
      data=config_lib.DataConfig(dataset="celeb_a", image_size=16),
      model=model)
  with pytest.raises(ValueError, match="dataset='celeb_a' has no class"):
    unlabelled.validate()


def test_sampling_steps_may_change_on_resume():
  saved = config_lib.ExperimentConfig()
  requested = dataclasses.replace(saved, model=dataclasses.replace(
      saved.model, num_sampling_steps=(45,), num_inpainting_steps=(30, 10)))
  assert config_lib.conflicts(saved, requested) == []
  requested = dataclasses.replace(saved, model=dataclasses.replace(
      saved.model, sampler="hmc"))
  assert config_lib.conflicts(saved, requested)


def test_batch_must_split_evenly_over_replicas():
  config = config_lib.ExperimentConfig(
      train=config_lib.TrainConfig(batch_size=101))
  with pytest.raises(ValueError, match="not divisible by the 2 replicas"):
    config.validate(num_replicas=2)


def test_num_steps_may_change_on_resume_but_model_settings_may_not():
  saved = config_lib.ExperimentConfig()
  longer = dataclasses.replace(
      saved, train=dataclasses.replace(saved.train, num_steps=99999))
  assert config_lib.conflicts(saved, longer) == []
  other = dataclasses.replace(
      saved, model=dataclasses.replace(saved.model, net_width=2.0))
  assert config_lib.conflicts(saved, other) == [
      "net_width: saved 1.0, requested 2.0"]



def test_divergence_and_strategy_settings_may_change_on_resume():
  saved = config_lib.ExperimentConfig()
  changed = dataclasses.replace(saved, train=dataclasses.replace(
      saved.train, strategy="multi_worker", on_divergence="restore",
      divergence_backoff="learning_rate", max_divergence_retries=5))
  assert config_lib.conflicts(saved, changed) == []


def test_config_json_without_the_divergence_settings_gets_the_defaults():
  values = config_lib.ExperimentConfig().to_dict()
  for name in ("on_divergence", "divergence_backoff",
               "max_divergence_retries"):
    del values["train"][name]
  assert config_lib.ExperimentConfig.from_dict(values).train == (
      config_lib.TrainConfig())



def lapgan_config(**model):
  return config_lib.ExperimentConfig(
      family="lapgan", model=config_lib.LapganConfig(**model),
      train=config_lib.TrainConfig(learning_rate=2e-4))


def test_lapgan_config_round_trips_through_json_and_validates():
  config = lapgan_config(level_sizes=(4, 8, 16), condition_on_label=True)
  config.validate()
  loaded = config_lib.ExperimentConfig.from_json(config.to_json())
  assert loaded == config
  assert isinstance(loaded.model, config_lib.LapganConfig)


def test_multigrid_json_without_family_still_loads():
  text = config_lib.ExperimentConfig().to_json()
  assert '"family": "multigrid"' in text
  values = config_lib.ExperimentConfig.from_json(text).to_dict()
  del values["family"]
  loaded = config_lib.ExperimentConfig.from_dict(values)
  assert isinstance(loaded.model, config_lib.MultigridConfig)


@pytest.mark.parametrize("model, match", [
    (dict(level_sizes=(4, 16)), "must double"),
    (dict(level_sizes=(4, 8)), "cannot reach image_size=16"),
    (dict(noise_dim=0), "noise_dim=0"),
    (dict(d_steps_per_g_step=0), "d_steps_per_g_step=0"),
    (dict(generator_width=0.0), "generator_width=0.0"),
    (dict(discriminator_dropout=1.0), "discriminator_dropout=1.0"),
])
def test_bad_lapgan_settings_name_the_setting(model, match):
  with pytest.raises(ValueError, match=match):
    lapgan_config(**model).validate()


def test_lapgan_family_with_a_multigrid_model_section_is_rejected():
  config = config_lib.ExperimentConfig(family="lapgan")
  with pytest.raises(ValueError, match="family='lapgan' needs a LapganConfig"):
    config.validate()


def test_lapgan_refuses_step_size_backoff_and_unlabelled_conditioning():
  config = dataclasses.replace(
      lapgan_config(), train=config_lib.TrainConfig(on_divergence="restore"))
  with pytest.raises(ValueError, match="divergence_backoff=learning_rate"):
    config.validate()
  unlabelled = dataclasses.replace(
      lapgan_config(condition_on_label=True),
      data=config_lib.DataConfig(dataset="folder:/tmp/x"))
  with pytest.raises(ValueError, match="condition_on_label=True needs a "
                     "labelled dataset"):
    unlabelled.validate()


def test_changing_family_on_resume_is_a_conflict():
  found = config_lib.conflicts(config_lib.ExperimentConfig(), lapgan_config())
  assert any(f.startswith("family:") for f in found)

if __name__ == "__main__":
  sys.exit(pytest.main([__file__, "-q"]))


def test_zero_sampling_steps_are_valid_in_the_config_as_in_the_model():
  # 0 sampling steps returns the up-sampled starts (the export allows it
  # too); the config and the model agree, both reading MultigridConfig.
  config = config_lib.ExperimentConfig()
  config = dataclasses.replace(config, model=dataclasses.replace(
      config.model, num_sampling_steps=(0,)))
  config.validate()
