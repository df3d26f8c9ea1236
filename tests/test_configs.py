"""Every real config file parses, with every key known (Dopamine's practice)."""
import glob
import os

import gin
import pytest

from spam_tf import experiment

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "*.gin")))


def test_there_are_configs():
  assert any(path.endswith("smoke.gin") for path in CONFIGS) and len(CONFIGS) >= 4


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_parses(path, repo_root, monkeypatch):
  monkeypatch.chdir(repo_root)  # includes are relative to the repo root
  try:
    experiment.parse_gin([path], [])
    assert gin.config_str().strip()
  finally:
    gin.clear_config()
