import os
import signal
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import spam_tf  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402


class ToyEnv(gym.Env):
  """3-D Box obs, Discrete(2, start=1) actions; terminates when action 2 is taken
  three times in a row, else truncates at the step limit (5 by default)."""

  def __init__(self, max_steps=5):
    self.observation_space = gym.spaces.Box(-10.0, 10.0, (3,), np.float64)
    self.action_space = gym.spaces.Discrete(2, start=1)
    self._max_steps = max_steps

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self._t, self._run = 0, 0
    return self.np_random.uniform(-1, 1, 3), {}

  def step(self, action):
    assert self.action_space.contains(action), action
    self._t += 1
    self._run = self._run + 1 if action == 2 else 0
    obs = self.np_random.uniform(-1, 1, 3)
    terminated = self._run >= 3
    return obs, float(action), terminated, self._t >= self._max_steps and not terminated, {}


class DictObsEnv(ToyEnv):
  def __init__(self):
    super().__init__()
    self.observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (2,))})


gym.register("SpamToy-v0", entry_point=ToyEnv, max_episode_steps=None)
gym.register("SpamToyDict-v0", entry_point=DictObsEnv)


@pytest.fixture(scope="session")
def repo_root():
  return ROOT


def run_sweep_in_process(repo_root, tmp_path, name, sweep_text, reuse_from=(), **flags):
  """bin/spam_sweep --sweep=<a file with sweep_text> --root_dir=<tmp>/<name>, in this
  process: (root, summary). Gin's config is cleared after, so the runs' bindings reach no
  later test of this worker."""
  import gin  # pylint: disable=import-outside-toplevel
  from spam_tf.running import sweep  # pylint: disable=import-outside-toplevel
  path = tmp_path / f"{name}.gin"
  path.write_text(sweep_text)
  root = str(tmp_path / name)
  cwd = os.getcwd()
  os.chdir(repo_root)  # configs/ are named relative to the repository, as on the command line
  try:
    return root, sweep.run_sweep(str(path), root, reuse_from=list(reuse_from), backend="inprocess", **flags)
  finally:
    os.chdir(cwd)
    gin.clear_config()


def user_env(**extra):
  """The environment a user's shell has: no TF_CPP_MIN_LOG_LEVEL, no warning filters
  (the binaries must quiet TensorFlow themselves), and oneDNN on, so that a machine
  whose CPU prints no oneDNN line still exercises that path."""
  env = {k: v for k, v in os.environ.items()
         if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS", "TF_USE_LEGACY_KERAS")}
  return {**env, "TF_ENABLE_ONEDNN_OPTS": "1", **extra}


def descendants(pid):
  """pids of the processes pid started, and those they started, from /proc."""
  children = {}
  for entry in filter(str.isdigit, os.listdir("/proc")):
    try:
      stat = open(f"/proc/{entry}/stat").read()
    except OSError:  # gone since the listing
      continue
    parent = int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (command) state"
    children.setdefault(parent, []).append(int(entry))
  found, todo = [], [pid]
  while todo:
    below = children.get(todo.pop(), [])
    found += below
    todo += below
  return found


def kill_tree(proc):
  """SIGKILLs proc and every process under it at one instant, as a power cut would.

  Killing the driver alone leaves its Ray workers running until they notice (fate
  sharing takes a moment), long enough to finish a smoke unit and make the next kill
  point's stage never come. All are frozen (SIGSTOP) first, so none writes on while
  the others die.
  """
  frozen = set()
  while True:
    tree = {proc.pid, *descendants(proc.pid)} - frozen
    if not tree:
      break
    for pid in tree:
      try:
        os.kill(pid, signal.SIGSTOP)
      except ProcessLookupError:
        pass
    frozen |= tree
  for pid in frozen:
    try:
      os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
  proc.communicate(timeout=120)
