import numpy as np
import pytest
import gymnasium as gym
from gymnasium.utils.env_checker import check_env
from tf_agents.environments import utils as tfa_env_utils
from tf_agents.trajectories import time_step as ts

from spam_tf.rl import collect
from spam_tf.rl import envs


@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v4", "SpamToy-v0"])
def test_adapter_passes_tf_agents_validation(env_id):
  env = envs.GymnasiumPyEnvironment(env_id, seed=3)
  tfa_env_utils.validate_py_environment(env, episodes=3)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v4"])
def test_envs_pass_gymnasium_check_env(env_id):
  check_env(gym.make(env_id).unwrapped, skip_render_check=True)


def test_specs_follow_spaces():
  cp = envs.GymnasiumPyEnvironment("CartPole-v1", 0)
  assert cp.observation_spec().shape == (4,) and cp.observation_spec().dtype == np.float32
  assert cp.action_spec().dtype == np.int64 and (cp.action_spec().minimum, cp.action_spec().maximum) == (0, 1)
  ip = envs.GymnasiumPyEnvironment("InvertedPendulum-v4", 0)
  assert ip.observation_spec().shape == (4,)
  assert ip.action_spec().shape == (1,) and ip.action_spec().dtype == np.float32
  np.testing.assert_array_equal(ip.action_spec().minimum, [-3.0])
  np.testing.assert_array_equal(ip.action_spec().maximum, [3.0])


def test_terminated_gives_discount_zero_and_truncated_keeps_it():
  env = envs.GymnasiumPyEnvironment("SpamToy-v0", 0)
  step = env.reset()
  assert step.step_type == ts.StepType.FIRST
  for _ in range(3):  # spec action 1 is env action 2 (Discrete start=1)
    step = env.step(np.int64(1))
  assert step.step_type == ts.StepType.LAST and step.discount == 0.0
  step = env.step(np.int64(0))  # auto-reset after LAST
  assert step.step_type == ts.StepType.FIRST
  for t in range(5):
    step = env.step(np.int64(0))
    assert step.reward == 1.0  # env action 1 pays 1
    expected = ts.StepType.LAST if t == 4 else ts.StepType.MID
    assert step.step_type == expected and step.discount == 1.0


def test_adapter_seeding_reproduces_episodes():
  def rollout(seed):
    env = envs.GymnasiumPyEnvironment("CartPole-v1", seed)
    obs = [env.reset().observation]
    for _ in range(30):
      obs.append(env.step(np.int64(len(obs) % 2)).observation)
    return np.array(obs)
  np.testing.assert_array_equal(rollout(5), rollout(5))
  assert not np.array_equal(rollout(5), rollout(6))


@pytest.mark.parametrize("env_id,message", [
    ("NoSuchEnv-v9", "unknown or unavailable"),
    ("SpamToyDict-v0", "observation space"),
    ("FrozenLake-v1", "observation space"),
])
def test_bad_envs_raise_env_error(env_id, message):
  with pytest.raises(envs.EnvError, match=message):
    envs.make(env_id)


def test_collector_completes_episodes_and_respects_budget():
  collector = collect.EpisodeCollector("SpamToy-v0", num_envs=3)
  rng = np.random.default_rng(0)
  episodes = collector.collect(lambda obs: rng.integers(0, 2, len(obs)), min_steps=20, seed=1)
  total = sum(ep.length for ep in episodes)
  assert 20 - 5 / 2 <= total <= 20 + 3 * 5
  for ep in episodes:
    assert ep.observations.shape == (ep.length + 1, 3)
    assert ep.terminated == (ep.length >= 3 and np.all(ep.actions[-3:] == 1))
  # min_steps=0: exactly one episode per env (evaluation)
  assert len(collector.collect(lambda obs: np.zeros(len(obs), np.int64), 0, seed=2)) == 3


@pytest.mark.parametrize("min_steps,start_envs,expected_steps", [
    (20, 4, 20),   # 4 envs x one 5-step episode
    (22, 4, 20),   # a 5th episode would end 3 steps over, stopping now 2 under: stop
    (23, 4, 25),   # ... 2 over against 3 under: one more
    (20, 8, 40),   # 8 envs started run 8 episodes: why the caller starts fewer
    (40, 2, 40),   # 2 envs take turns
])
def test_collector_batch_is_closest_to_min_steps(min_steps, start_envs, expected_steps):
  collector = collect.EpisodeCollector("SpamToy-v0", num_envs=8)  # episodes: 5 steps (truncated)
  episodes = collector.collect(lambda obs: np.zeros(len(obs), np.int64), min_steps, seed=0,
                               start_envs=start_envs)
  assert all(ep.length == 5 and not ep.terminated for ep in episodes)
  assert sum(ep.length for ep in episodes) == expected_steps
  assert {ep.env_index for ep in episodes} <= set(range(start_envs))


def test_collector_same_seed_same_trajectories():
  def run(seed):
    collector = collect.EpisodeCollector("CartPole-v1", num_envs=4)
    rng = np.random.default_rng(seed)
    return collector.collect(lambda obs: rng.integers(0, 2, len(obs)), 200, seed)
  a, b, c = run(1), run(1), run(2)
  assert [ep.length for ep in a] == [ep.length for ep in b]
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.observations, y.observations)
    np.testing.assert_array_equal(x.actions, y.actions)
  assert not np.array_equal(a[0].observations, c[0].observations)


def test_to_trajectory_marks_boundaries_and_discounts():
  episodes = [
      collect.Episode(np.zeros((3, 2), np.float32), np.array([0, 1]), np.array([1.0, 2.0], np.float32), True),
      collect.Episode(np.ones((2, 2), np.float32), np.array([1]), np.array([5.0], np.float32), False),
  ]
  from tf_agents.specs import tensor_spec
  import tensorflow as tf
  spec = tensor_spec.BoundedTensorSpec((), tf.int64, 0, 1)
  traj = collect.to_trajectory(episodes, spec)
  F, M, L = ts.StepType.FIRST, ts.StepType.MID, ts.StepType.LAST
  assert traj.step_type.numpy().tolist() == [[F, M, L, F, L]]
  assert traj.next_step_type.numpy().tolist() == [[M, L, F, L, F]]
  assert traj.reward.numpy().tolist() == [[1.0, 2.0, 0.0, 5.0, 0.0]]
  assert traj.discount.numpy().tolist() == [[1.0, 0.0, 1.0, 1.0, 1.0]]  # truncated keeps 1
  assert traj.action.numpy().tolist() == [[0, 1, 0, 1, 0]]
  assert traj.observation.shape == (1, 5, 2)


@pytest.mark.parametrize("observation_space,action_space,message", [
    (gym.spaces.Box(0, 255, (8, 8, 3), np.uint8), gym.spaces.Discrete(2), "observation space"),
    (gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (2,))}), gym.spaces.Discrete(2), "observation space"),
    (gym.spaces.Box(-1, 1, (3,)), gym.spaces.MultiDiscrete([2, 3]), "action space"),
    (gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2, 2)), "action space"),
])
def test_unsupported_spaces_are_named(observation_space, action_space, message):
  with pytest.raises(envs.EnvError, match=message):
    envs.check_spaces("X-v0", observation_space, action_space)
