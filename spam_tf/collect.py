"""Batched collection of complete episodes from gymnasium envs.

Several envs step together and the policy is called once per batch step
(see spam_tf/policy.py for why in numpy). REINFORCE needs complete episodes:
each iteration collects at least `min_steps` env steps, and an env that
finishes an episode after that target is reached starts no new one.

Reproducibility: every env is reset with a seed derived from (seed, iteration,
env index) at the start of an iteration, and the action noise comes from a
generator seeded the same way, so an iteration's episodes depend only on the
seed, the iteration number and the policy weights; a resumed run replays them.
"""
import dataclasses

import numpy as np
import tensorflow as tf
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from spam_tf import envs as envs_lib


@dataclasses.dataclass
class Episode:
  """One complete episode of L steps.

  observations: [L + 1, obs_dim] float32 (includes the final observation).
  actions: [L] int64 or [L, action_dim] float32, in spec form.
  rewards: [L] float32, rewards[t] follows actions[t].
  terminated: True if the env terminated, False if truncated (time limit).
  env_index: which of the collector's envs ran it.
  """
  observations: np.ndarray
  actions: np.ndarray
  rewards: np.ndarray
  terminated: bool
  env_index: int = 0

  @property
  def length(self):
    return len(self.rewards)

  @property
  def total_return(self):
    return float(self.rewards.sum(dtype=np.float64))


def derive_seed(*keys) -> int:
  """A 32-bit seed from integers (run seed, stage, iteration, ...)."""
  return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


class EpisodeCollector:
  """Steps `num_envs` gymnasium envs of one id together."""

  def __init__(self, env_id: str, num_envs: int):
    self.envs = [envs_lib.make(env_id) for _ in range(num_envs)]
    space = self.envs[0].action_space
    self._discrete_start = int(space.start) if hasattr(space, "n") else None

  def _to_env(self, action):
    if self._discrete_start is not None:
      return int(action) + self._discrete_start
    return action

  def collect(self, act_fn, min_steps: int, seed: int):
    """Runs complete episodes until at least `min_steps` steps are done.

    With min_steps=0 every env runs exactly one episode (used for evaluation).

    act_fn: obs [B, obs_dim] float32 -> actions [B, ...] (spec form).
    seed: resets env i with derive_seed(seed, i) at the start.
    Returns a list of Episode, in order of completion.
    """
    envs = self.envs
    n = len(envs)
    obs_dim = envs[0].observation_space.shape[0]
    current = np.zeros((n, obs_dim), np.float32)
    buffers = []
    for i, env in enumerate(envs):
      obs, _ = env.reset(seed=derive_seed(seed, i))
      current[i] = obs
      buffers.append(([current[i].copy()], [], []))
    active = list(range(n))
    episodes, steps_done = [], 0
    to_env = self._to_env
    while active:
      batch_obs = current if len(active) == n else current[active]
      actions = act_fn(batch_obs)
      still_active = []
      for j, i in enumerate(active):
        action = actions[j]
        obs, reward, terminated, truncated, _ = envs[i].step(to_env(action))
        obs_buf, act_buf, rew_buf = buffers[i]
        obs_buf.append(obs)
        act_buf.append(action)
        rew_buf.append(reward)
        if terminated or truncated:
          episodes.append(Episode(np.asarray(obs_buf, np.float32), np.asarray(act_buf),
                                  np.asarray(rew_buf, np.float32), bool(terminated), i))
          steps_done += len(rew_buf)
          in_flight = sum(len(buffers[k][2]) for k in active if k != i)
          if steps_done + in_flight >= min_steps:
            continue  # this env starts no new episode
          obs, _ = envs[i].reset()
          buffers[i] = ([obs], [], [])
        current[i] = obs
        still_active.append(i)
      active = still_active
    return episodes

  def close(self):
    for env in self.envs:
      env.close()


def to_trajectory(episodes, action_spec) -> trajectory.Trajectory:
  """Episodes -> one TF-Agents Trajectory of shape [1, T], as a driver makes it.

  Each episode of L steps gives L transitions followed by one boundary
  transition (LAST -> FIRST), the element ReinforceAgent counts episodes by and
  masks out of the loss. A terminated episode's last transition has discount 0,
  a truncated one's keeps discount 1.
  """
  step_types, next_types, obs, actions, rewards, discounts = [], [], [], [], [], []
  zero_action = np.zeros(action_spec.shape, action_spec.dtype.as_numpy_dtype)
  for ep in episodes:
    length = ep.length
    st = np.full(length + 1, ts.StepType.MID, np.int32)
    st[0], st[length] = ts.StepType.FIRST, ts.StepType.LAST
    nst = np.full(length + 1, ts.StepType.MID, np.int32)
    nst[length - 1], nst[length] = ts.StepType.LAST, ts.StepType.FIRST
    disc = np.ones(length + 1, np.float32)
    if ep.terminated:
      disc[length - 1] = 0.0
    step_types.append(st)
    next_types.append(nst)
    obs.append(ep.observations)
    actions.append(np.concatenate([ep.actions.astype(zero_action.dtype),
                                   zero_action[None]], axis=0))
    rewards.append(np.append(ep.rewards, np.float32(0.0)))
    discounts.append(disc)

  def batch(parts):
    return tf.constant(np.concatenate(parts, axis=0)[None])

  return trajectory.Trajectory(
      step_type=batch(step_types), observation=batch(obs), action=batch(actions),
      policy_info=(), next_step_type=batch(next_types), reward=batch(rewards),
      discount=batch(discounts))
