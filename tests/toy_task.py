"""A task of one's own for tests/test_recipes.py: gymnasium imports this module when an env
id names it (`tests.toy_task:SpamChase-v0`), and the module registers the env."""
import gymnasium as gym
import numpy as np


class Chase(gym.Env):
  """Observation [offset, 0]: push toward the target (action 1 when offset > 0, else 0)
  and earn 1; 10 steps an episode, so the task maximum is 10. No reward_threshold is
  registered: the success criterion comes from the task's gin file."""

  observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
  action_space = gym.spaces.Discrete(2)

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    self._t = 0
    return self._observe(), {}

  def _observe(self):
    self._offset = float(self.np_random.uniform(-1, 1))
    return np.float32([self._offset, 0.0])

  def step(self, action):
    reward = float(int(action) == int(self._offset > 0))
    self._t += 1
    return self._observe(), reward, self._t >= 10, False, {}


if "SpamChase-v0" not in gym.registry:
  gym.register("SpamChase-v0", entry_point=Chase)
