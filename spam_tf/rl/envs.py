"""Gymnasium environments as TF-Agents specs and PyEnvironments.

Any gymnasium env with a 1-D `Box` observation and a `Discrete` or 1-D `Box`
action works; nothing here looks at env names. Observations become float32,
`Discrete(n, start)` actions become int64 in [0, n) (shifted back by `start`).
"""
import importlib
import warnings

import gymnasium as gym
import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts


class EnvError(ValueError):
  """An environment id or space this project cannot use (message is user-facing)."""


def make(env_id: str, max_episode_steps=None) -> gym.Env:
  """gym.make with a one-line error for unknown ids and unsupported spaces;
  max_episode_steps: None (the env's own limit) or a cap (the smaller of the two)."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      env = gym.make(env_id)
  except gym.error.Error as e:
    raise EnvError(f"unknown or unavailable gymnasium env {env_id!r}: {e}") from None
  check_spaces(env_id, env.observation_space, env.action_space)
  limit = env.spec.max_episode_steps if env.spec else None
  if max_episode_steps and (limit is None or max_episode_steps < limit):
    env = gym.wrappers.TimeLimit(env, max_episode_steps)
  return env


def spec_of(env_id: str):
  """gymnasium's EnvSpec of env_id, with a one-line error for unknown ids. An id naming its
  module ('my_package.tasks:MyTask-v0') imports it first, as gym.make does (gym.spec does not)."""
  module, _, name = env_id.rpartition(":")
  try:
    if module:
      importlib.import_module(module)
    return gym.spec(name)
  except (gym.error.Error, ImportError) as e:
    raise EnvError(f"unknown or unavailable gymnasium env {env_id!r}: {e}") from None


def check_spaces(env_id, observation_space, action_space):
  """Raises EnvError unless obs is a 1-D Box and action a Discrete or 1-D Box."""
  if not (isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 1):
    raise EnvError(f"{env_id}: observation space {observation_space} is not supported "
                   "(need a 1-D Box)")
  if isinstance(action_space, gym.spaces.Discrete):
    return
  if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
    return
  raise EnvError(f"{env_id}: action space {action_space} is not supported "
                 "(need Discrete or a 1-D Box)")


def observation_spec(env: gym.Env) -> array_spec.ArraySpec:
  return array_spec.ArraySpec(env.observation_space.shape, np.float32, name="observation")


def action_spec(env: gym.Env) -> array_spec.BoundedArraySpec:
  space = env.action_space
  if isinstance(space, gym.spaces.Discrete):
    return array_spec.BoundedArraySpec((), np.int64, 0, int(space.n) - 1, name="action")
  return array_spec.BoundedArraySpec(space.shape, np.float32, space.low.astype(np.float32),
                                     space.high.astype(np.float32), name="action")


def to_env_action(env: gym.Env, action):
  """Maps a spec action (int64 index or float32 vector) to what env.step takes."""
  space = env.action_space
  if isinstance(space, gym.spaces.Discrete):
    return int(action) + int(space.start)
  return np.asarray(action, dtype=space.dtype)


class GymnasiumPyEnvironment(py_environment.PyEnvironment):
  """A gymnasium env as an (unbatched) TF-Agents PyEnvironment.

  terminated -> LAST with discount 0; truncated (time limit) -> LAST with
  discount 1, so bootstrapping learners see the episode as cut, not ended.
  `handle_auto_reset=True` makes the base class reset after a LAST step, as
  TF-Agents drivers expect (without it a finished episode keeps stepping).
  """

  def __init__(self, env_id: str, seed: int):
    super().__init__(handle_auto_reset=True)
    self._env = make(env_id)
    self._seed = int(seed)
    self._seeded = False
    self._obs_spec = observation_spec(self._env)
    self._action_spec = action_spec(self._env)

  @property
  def gym(self) -> gym.Env:
    return self._env

  def observation_spec(self):
    return self._obs_spec

  def action_spec(self):
    return self._action_spec

  def _reset(self):
    # Only the first reset takes the seed; later resets continue the env's own
    # RNG stream, so one seed fixes the whole sequence of episodes.
    seed = None if self._seeded else self._seed
    self._seeded = True
    obs, _ = self._env.reset(seed=seed)
    self._env.action_space.seed(self._seed)
    return ts.restart(np.asarray(obs, np.float32))

  def _step(self, action):
    obs, reward, terminated, truncated, _ = self._env.step(to_env_action(self._env, action))
    obs = np.asarray(obs, np.float32)
    reward = np.asarray(reward, np.float32)
    if terminated:
      return ts.termination(obs, reward)
    if truncated:
      return ts.truncation(obs, reward, discount=np.float32(1.0))
    return ts.transition(obs, reward, discount=np.float32(1.0))

  def close(self):
    self._env.close()
