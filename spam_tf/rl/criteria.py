"""What counts as solving a task, and what a policy that knows nothing scores on it.

criterion  the return that counts as success: `success_criterion.returns[env_id]` when
           gin gives one (the paper's experiments state the task maximum there), else
           gymnasium's `spec.reward_threshold` ("solved"); a task with neither is an
           error that says how to set one.
floor      the mean return of a uniformly random policy (FLOOR_EPISODES seeded
           episodes), the 0 of the normalised scale: as for human-normalised Atari
           scores, (return - floor) / (criterion - floor) is 0 for the random policy
           and 1 at the criterion, whatever the sign of the rewards
           (spam_tf/analysis/statistics.normalize).
Neither changes what training produces: experiments apply them to the eval curves
(spam_tf/running/summary.py), so a unit trained once serves criteria of any experiment.
"""
import gin
import numpy as np

from spam_tf.rl import collect
from spam_tf.rl import envs as envs_lib

FLOOR_EPISODES = 100
FLOOR_SEED = 0


class CriterionError(ValueError):
  """A task without a success criterion (message is user-facing)."""


@gin.configurable
def success_criterion(env_id, returns=None):
  """The success criterion of env_id (module doc). returns: {env id: return} from gin."""
  if returns and env_id in returns:
    return float(returns[env_id])
  threshold = envs_lib.spec_of(env_id).reward_threshold
  if threshold is None:
    raise CriterionError(f"{env_id} has no reward_threshold in gymnasium: set one with "
                         f"--gin_bindings=\"success_criterion.returns={{'{env_id}': <return>}}\"")
  return float(threshold)


def random_floor(env_id, episodes=FLOOR_EPISODES, seed=FLOOR_SEED):
  """Mean return of a uniformly random policy over `episodes` seeded episodes."""
  collector = collect.EpisodeCollector(env_id, episodes)
  spec = envs_lib.action_spec(collector.envs[0])
  act = collect.random_actions(spec, np.random.default_rng(collect.derive_seed(seed, 5)))
  try:
    return collect.episode_stats(collector.collect(act, 0, collect.derive_seed(seed, 6)))[0]
  finally:
    collector.close()

