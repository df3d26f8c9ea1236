"""configs/cluster/*.yaml, checked as `ray up` checks them: Ray's own preparation of a
cluster config (defaults of its provider) and its validation against ray-schema.json."""
import copy
import glob
import os

import jsonschema
import pytest
import yaml

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "cluster", "*.yaml")))


def ray_checked(config):
  """What `ray up` does before it starts anything: prepare (fill in the provider's
  defaults), then validate against Ray's schema. Raises on a bad config."""
  from ray.autoscaler._private import util  # pylint: disable=import-outside-toplevel
  prepared = util.prepare_config(copy.deepcopy(config))
  util.validate_config(prepared)
  return prepared


def test_there_is_a_cluster_config():
  assert CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_cluster_config_passes_rays_own_checks(path):
  config = yaml.safe_load(open(path))
  prepared = ray_checked(config)
  # Token authentication on every node, and a sweep's root_dir on the shared file system.
  for command in prepared["head_start_ray_commands"][-1:] + prepared["worker_start_ray_commands"][-1:]:
    assert "RAY_AUTH_MODE=token" in command and "RAY_AUTH_TOKEN_PATH=/shared/" in command
  assert "--root_dir=/shared/" in open(path).read()


def test_rays_check_rejects_a_broken_config():
  """The check above can fail: a misspelled field is refused by Ray's schema."""
  config = yaml.safe_load(open(CONFIGS[0]))
  config["max_worker"] = config.pop("max_workers")
  with pytest.raises(jsonschema.ValidationError):
    ray_checked(config)
