"""Batched collection of complete episodes from gymnasium envs.

Several envs step together and the policy is called once per batch step
(see spam_tf/policy.py for why in numpy). REINFORCE needs complete episodes:
each iteration collects at least `min_steps` env steps of whole episodes. An
env that finishes an episode starts a new one only while the steps done plus
the expected steps of the episodes still running (each at least the mean
episode length so far) fall short of `min_steps`, or when it is the last env
running and `min_steps` is not reached yet. Without the estimate, 8 envs with
500-step episodes would collect 8000 steps for a 5000-step batch.

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
  policy_info: None, or {name: [L, ...]} recorded by the policy (PPO's
    distribution parameters).
  """
  observations: np.ndarray
  actions: np.ndarray
  rewards: np.ndarray
  terminated: bool
  env_index: int = 0
  policy_info: dict = None

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
    # Discrete(n, start): spec actions are 0..n-1; numpy int64 scalars (not Python
    # ints) go to env.step, whose Discrete.contains check is 3x slower on ints.
    self._action_offset = int(space.start) if hasattr(space, "n") else 0

  def collect(self, act_fn, min_steps: int, seed: int):
    """Runs complete episodes until at least `min_steps` steps are done.

    With min_steps=0 every env runs exactly one episode (used for evaluation).
    act_fn: obs [B, obs_dim] float32 -> actions [B, ...] (spec form), or
      -> (actions, info) with info {name: [B, ...]} to record per step.
    seed: resets env i with derive_seed(seed, i) at the start.
    Returns a list of Episode, in order of completion.
    """
    envs = self.envs
    last_obs = [env.reset(seed=derive_seed(seed, i))[0] for i, env in enumerate(envs)]
    buffers = [([obs], [], [], []) for obs in last_obs]
    active = list(range(len(envs)))
    running = set(active)
    episodes, steps_done = [], 0
    while active:
      actions = act_fn(np.asarray([last_obs[i] for i in active], np.float32))
      actions, info = actions if isinstance(actions, tuple) else (actions, None)
      env_actions = actions + self._action_offset if self._action_offset else actions
      still_active = []
      for j, i in enumerate(active):
        action = actions[j]
        obs, reward, terminated, truncated, _ = envs[i].step(
            env_actions[j] if self._action_offset else action)
        obs_buf, act_buf, rew_buf, info_buf = buffers[i]
        obs_buf.append(obs)
        act_buf.append(action)
        rew_buf.append(reward)
        if info is not None:
          info_buf.append({name: value[j] for name, value in info.items()})
        if terminated or truncated:
          episodes.append(Episode(
              np.asarray(obs_buf, np.float32), np.asarray(act_buf), np.asarray(rew_buf, np.float32),
              bool(terminated), i, _stack_info(info_buf) if info_buf else None))
          steps_done += len(rew_buf)
          running.discard(i)
          # In-flight episodes will run at least as long as the mean so far; the
          # last env running keeps going until min_steps is really reached.
          mean_length = steps_done / len(episodes)
          in_flight = sum(max(len(buffers[k][2]), mean_length) for k in running)
          if steps_done >= min_steps or (running and steps_done + in_flight >= min_steps):
            continue  # this env starts no new episode
          running.add(i)
          obs, _ = envs[i].reset()
          buffers[i] = ([obs], [], [], [])
        last_obs[i] = obs
        still_active.append(i)
      active = still_active
    return episodes

  def close(self):
    for env in self.envs:
      env.close()


def _stack_info(steps):
  """[{name: value}] per step -> {name: [L, ...]}."""
  return {name: np.stack([step[name] for step in steps]) for name in steps[0]}


def to_trajectory(episodes, action_spec) -> trajectory.Trajectory:
  """Episodes -> one TF-Agents Trajectory of shape [1, T], as a driver makes it.

  Each episode of L steps gives L transitions followed by one boundary
  transition (LAST -> FIRST), the element ReinforceAgent counts episodes by and
  masks out of the loss. A terminated episode's last transition has discount 0,
  a truncated one's keeps discount 1.
  """
  step_types, next_types, obs, actions, rewards, discounts = [], [], [], [], [], []
  dtype = getattr(action_spec.dtype, "as_numpy_dtype", action_spec.dtype)  # TF or numpy spec
  zero_action = np.zeros(action_spec.shape, dtype)
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

  policy_info = ()
  if episodes[0].policy_info is not None:
    policy_info = {"dist_params": {
        name: batch([np.concatenate([ep.policy_info[name], np.ones_like(ep.policy_info[name][:1])])
                     for ep in episodes])
        for name in episodes[0].policy_info}}
  return trajectory.Trajectory(
      step_type=batch(step_types), observation=batch(obs), action=batch(actions),
      policy_info=policy_info, next_step_type=batch(next_types), reward=batch(rewards),
      discount=batch(discounts))
