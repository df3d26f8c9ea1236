"""Batched collection of complete episodes from gymnasium envs.

Several envs step together and the policy is called once per batch step
(see spam_tf/rl/policy.py for why in numpy). REINFORCE needs complete episodes:
each iteration collects about `min_steps` env steps of whole episodes, within
half an episode of it. Two rules keep the batch at the size asked for:
  * `start_envs` (the caller's estimate: min_steps / the expected episode
    length) envs start; 5 envs with 1000-step episodes make a 5000-step batch,
    where all 8 would make 8000;
  * an env that finishes an episode starts a new one only if that brings the
    expected total closer to `min_steps`: the steps done plus the expected
    steps of the episodes still running (each at least the mean episode length
    so far), plus half a mean episode, still fall short of `min_steps`.
Episodes are never cut, so reward-to-go stays what the env defines.

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

from spam_tf.rl import envs as envs_lib


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


def episode_stats(episodes):
  """(mean return, mean length, total steps) of a list of episodes."""
  returns = [ep.total_return for ep in episodes]
  lengths = [ep.length for ep in episodes]
  return float(np.mean(returns)), float(np.mean(lengths)), int(np.sum(lengths))


def random_actions(action_spec, rng: np.random.Generator):
  """A uniformly random act_fn for EpisodeCollector.collect: obs [B, ...] -> actions [B, ...]."""
  if np.issubdtype(action_spec.dtype, np.integer):
    return lambda obs: rng.integers(action_spec.minimum, action_spec.maximum + 1, size=len(obs))
  return lambda obs: rng.uniform(action_spec.minimum, action_spec.maximum,
                                 size=(len(obs),) + action_spec.shape).astype(np.float32)


def start_envs(batch_steps, mean_episode_length, num_envs):
  """How many envs to start: batch_steps / the last iteration's mean episode length
  (all num_envs before the first iteration), between 1 and num_envs."""
  if not mean_episode_length:
    return num_envs
  return int(min(num_envs, max(1, round(batch_steps / mean_episode_length))))


def derive_seed(*keys) -> int:
  """A 32-bit seed from integers (run seed, stage, iteration, ...)."""
  return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


class EpisodeCollector:
  """Steps `num_envs` gymnasium envs of one id together."""

  def __init__(self, env_id: str, num_envs: int, max_episode_steps=None):
    self.envs = [envs_lib.make(env_id, max_episode_steps) for _ in range(num_envs)]
    space = self.envs[0].action_space
    # Discrete(n, start): spec actions are 0..n-1; numpy int64 scalars (not Python
    # ints) go to env.step, whose Discrete.contains check is 3x slower on ints.
    self._action_offset = int(space.start) if hasattr(space, "n") else 0

  def collect(self, act_fn, min_steps: int, seed: int, start_envs=None):
    """Runs complete episodes until about `min_steps` steps are done (module doc).

    With min_steps=0 every env runs exactly one episode (used for evaluation).
    start_envs: how many of the envs start (default all; at least 1).
    act_fn: obs [B, obs_dim] float32 -> actions [B, ...] (spec form), or
      -> (actions, info) with info {name: [B, ...]} to record per step.
    seed: resets env i with derive_seed(seed, i) at the start.
    Returns a list of Episode, in order of completion.
    """
    envs = self.envs[:max(1, min(start_envs or len(self.envs), len(self.envs)))]
    last_obs = [env.reset(seed=derive_seed(seed, i))[0] for i, env in enumerate(envs)]
    # Per env, the lists of its running episode; an episode's lists move to
    # `finished` when it ends and become arrays only at the end (one numpy call
    # per array for all episodes, not per episode: episodes can be 5 steps long).
    obs_lists = [[obs] for obs in last_obs]
    action_lists, reward_lists, info_lists = ([[] for _ in envs] for _ in range(3))
    active = list(range(len(envs)))
    running = set(active)
    finished, steps_done, steps_taken = [], 0, 0
    while active:
      actions = act_fn(np.asarray([last_obs[i] for i in active], np.float32))
      actions, info = actions if isinstance(actions, tuple) else (actions, None)
      env_actions = actions + self._action_offset if self._action_offset else actions
      steps_taken += len(active)  # this batch step included: an upper bound below
      stopped = []
      for j, i in enumerate(active):
        obs, reward, terminated, truncated, _ = envs[i].step(env_actions[j])
        obs_lists[i].append(obs)
        action_lists[i].append(actions[j])
        reward_lists[i].append(reward)
        if info is not None:
          info_lists[i].append({name: value[j] for name, value in info.items()})
        last_obs[i] = obs
        if not (terminated or truncated):
          continue
        finished.append((i, bool(terminated), obs_lists[i], action_lists[i], reward_lists[i],
                         info_lists[i]))
        steps_done += len(reward_lists[i])
        running.discard(i)
        if self._stop_env(min_steps, steps_done, steps_taken, len(finished), running,
                          reward_lists):
          stopped.append(i)
          continue
        running.add(i)
        last_obs[i] = envs[i].reset()[0]
        obs_lists[i], action_lists[i], reward_lists[i], info_lists[i] = [last_obs[i]], [], [], []
      if stopped:
        active = [i for i in active if i not in stopped]
    return _to_episodes(finished)

  @staticmethod
  def _stop_env(min_steps, steps_done, steps_taken, num_finished, running, reward_lists):
    """Whether an env whose episode just ended starts no new one (see the module doc)."""
    if steps_done >= min_steps:
      return True
    # In-flight episodes will run at least as long as the mean so far; one more
    # episode (about a mean length) helps only if the total is short of
    # min_steps by more than half of one.
    mean_length = steps_done / num_finished
    if steps_taken + (len(running) + 0.5) * mean_length < min_steps:
      return False  # cheap bound: even max(length, mean) per in-flight episode falls short
    in_flight = sum(max(len(reward_lists[k]), mean_length) for k in running)
    return steps_done + in_flight + mean_length / 2 >= min_steps

  def close(self):
    for env in self.envs:
      env.close()


def _to_episodes(finished):
  """[(env index, terminated, obs list, action list, reward list, info list)] -> [Episode]."""
  lengths = [len(rewards) for _, _, _, _, rewards, _ in finished]
  ends = np.cumsum(lengths)
  observations = np.split(np.asarray([o for f in finished for o in f[2]], np.float32),
                          ends + np.arange(1, len(finished) + 1))  # L + 1 observations each
  actions = np.split(np.asarray([a for f in finished for a in f[3]]), ends)
  rewards = np.split(np.asarray([r for f in finished for r in f[4]], np.float32), ends)
  return [Episode(observations[k], actions[k], rewards[k], terminated, env_index,
                  _stack_info(infos) if infos else None)
          for k, (env_index, terminated, _, _, _, infos) in enumerate(finished)]


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
