"""Relabelled twins (spam_tf/rl/twins.py): a twin reads its base through its true map, exactly;
its distractors, actions and bounds are what the map says; recovery scores hand-made maps."""
import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from spam_tf.rl import envs
from spam_tf.rl import twins
from spam_tf.spam import mapping


def make(env_id):
  with warnings.catch_warnings():  # the MuJoCo -v4 tasks' deprecation notice
    warnings.simplefilter("ignore")
    return gym.make(env_id)


def rollout(env, seed, actions):
  """Observations [steps + 1, inputs] of env reset with seed, then stepped with actions
  until the episode ends."""
  observations = [env.reset(seed=seed)[0]]
  for action in actions:
    observation, _, terminated, truncated, _ = env.step(action)
    observations.append(observation)
    if terminated or truncated:
      break
  return np.array(observations)


def assert_reads_base(twin_observations, base_observations, truth):
  """obs_twin[:, i] == sign_i * obs_base[:, observation[i]] to the bit, distractors excepted."""
  assert twin_observations.shape == (len(base_observations), len(truth["observation"]))
  for i, (j, sign) in enumerate(zip(truth["observation"], truth["signs"])):
    if j is not None:
      np.testing.assert_array_equal(twin_observations[:, i], sign * base_observations[:, j])


def test_cartpole_twin_reads_the_base_under_its_true_map():
  # The map of a registered twin is pinned: measurements name twins by id, so its draws must not move.
  env_id = "spam_tf.rl.twins:CartPole-twin3-v0"
  truth = twins.true_map(env_id)
  assert truth == {"observation": (3, 2, 1, 0), "signs": (1, -1, -1, -1), "action_sign": 1,
                   "action_order": None, "action_dims": None, "action_dim_signs": None}
  actions = np.random.default_rng(0).integers(0, 2, 60)
  twin = rollout(make(env_id), 11, actions)
  base = rollout(make("CartPole-v1"), 11, actions)
  assert len(base) > 5 and twin.dtype == base.dtype == np.float32
  assert_reads_base(twin, base, truth)
  assert twins.true_map(twins.twin_spec(env_id)) == truth


def test_dropped_inputs_vanish_and_duplicates_read_their_base_input():
  env_id = "spam_tf.rl.twins:CartPole-twin5-drop1-noise1-dup1-v0"
  truth = twins.true_map(env_id)
  read = [j for j in truth["observation"] if j is not None]
  assert len(truth["observation"]) == 4 - 1 + 1 + 1 and truth["observation"].count(None) == 1
  assert len(set(read)) == 3 and len(read) == 4  # one base input gone, one read twice
  actions = np.random.default_rng(1).integers(0, 2, 60)
  assert_reads_base(rollout(make(env_id), 4, actions), rollout(make("CartPole-v1"), 4, actions), truth)
  assert make(env_id).observation_space.shape == (5,)


def test_noise_inputs_repeat_under_the_same_reset_seed_and_differ_under_another():
  env = make("spam_tf.rl.twins:Acrobot-twin2-noise1-v0")
  noise = twins.true_map("spam_tf.rl.twins:Acrobot-twin2-noise1-v0")["observation"].index(None)
  actions = np.random.default_rng(2).integers(0, 3, 20)
  first, again, other = (rollout(env, seed, actions) for seed in (7, 7, 8))
  np.testing.assert_array_equal(first, again)
  assert np.all(first[:, noise] != other[:, noise])
  assert len(set(first[:, noise])) == len(first) and abs(first[:, noise].mean()) < 1.0
  bounds = env.observation_space
  assert bounds.low[noise] == -np.inf and bounds.high[noise] == np.inf
  # gymnasium's own checks, its seeded-reset determinism among them, pass with noise.
  check_env(twins.make_twin(**dataclasses.asdict(twins.twin_spec("Acrobot-twin2-noise1-v0"))),
            skip_render_check=True)


def test_swapped_discrete_actions_act_as_the_base_under_the_other_action():
  truth = twins.true_map("spam_tf.rl.twins:CartPole-twin3-act-v0")
  assert truth["action_sign"] == -1 and truth["observation"] == (3, 2, 1, 0)  # the plain twin's map
  actions = np.random.default_rng(3).integers(0, 2, 60)
  twin = rollout(make("spam_tf.rl.twins:CartPole-twin3-act-v0"), 5, actions)
  assert_reads_base(twin, rollout(make("CartPole-v1"), 5, 1 - actions), truth)


def test_permuted_discrete_actions_act_as_the_base_under_the_mapped_action():
  env_id = "spam_tf.rl.twins:Acrobot-twin1-act-v0"
  truth = twins.true_map(env_id)
  order = truth["action_order"]
  assert sorted(order) == [0, 1, 2] and order != (0, 1, 2) and truth["action_sign"] == 1
  actions = np.random.default_rng(4).integers(0, 3, 40)
  twin = rollout(make(env_id), 6, actions)
  assert_reads_base(twin, rollout(make("Acrobot-v1"), 6, [order[a] for a in actions]), truth)


def test_a_flipped_box_action_acts_as_the_base_under_its_negation():
  env_id = "spam_tf.rl.twins:InvertedPendulum-twin2-act-v0"
  truth = twins.true_map(env_id)
  assert truth["action_sign"] == -1 and truth["action_dims"] is None
  actions = np.random.default_rng(5).uniform(-3, 3, (30, 1)).astype(np.float32)
  twin = rollout(make(env_id), 8, actions)
  base = rollout(make("InvertedPendulum-v4"), 8, -actions)
  assert len(twin) > 2 and twin.dtype == np.float64
  assert_reads_base(twin, base, truth)


class Lopsided(gym.Env):
  """Bounds that are not symmetric, so flipped bounds show (nothing is stepped)."""
  observation_space = gym.spaces.Box(np.float32([0, -1, 2]), np.float32([1, 3, 5]))
  action_space = gym.spaces.Box(np.float32([0, -2]), np.float32([1, 1]))


def test_bounds_follow_the_map():
  twin = twins.Twin(Lopsided(), twins.TwinSpec("Lopsided", 4, noise=1, permute_actions=True,
                                                flip_actions=True))
  relabelling, base = twin.relabelling, Lopsided()
  for i, (j, sign) in enumerate(zip(relabelling.sources, relabelling.signs)):
    low, high = (-np.inf, np.inf) if j is None else (base.observation_space.low[j],
                                                     base.observation_space.high[j])
    expected = (low, high) if sign > 0 else (-high, -low)
    assert (twin.observation_space.low[i], twin.observation_space.high[i]) == expected
  assert relabelling.action_dims == (1, 0) and -1 in relabelling.action_signs
  for k, (j, sign) in enumerate(zip(relabelling.action_dims, relabelling.action_signs)):
    low, high = base.action_space.low[j], base.action_space.high[j]
    assert (twin.action_space.low[k], twin.action_space.high[k]) == ((low, high) if sign > 0 else (-high, -low))
  # twin action a drives base dimension dims[k] with a[k] * sign[k]
  base_action = twin.base_action(np.float32([0.5, -0.25]))
  for k, (j, sign) in enumerate(zip(relabelling.action_dims, relabelling.action_signs)):
    assert base_action[j] == sign * [0.5, -0.25][k]


def test_a_permuted_box_action_acts_as_the_base_under_the_mapped_action():
  env_id = "spam_tf.rl.twins:Swimmer-twin0-act-v0"
  truth = twins.true_map(env_id)
  dims, signs = truth["action_dims"], truth["action_dim_signs"]
  assert dims == (1, 0) and -1 in signs and truth["action_sign"] == 1
  actions = np.random.default_rng(6).uniform(-1, 1, (20, 2)).astype(np.float32)
  base_actions = np.empty_like(actions)
  base_actions[:, list(dims)] = np.float32(signs) * actions
  assert_reads_base(rollout(make(env_id), 9, actions), rollout(make("Swimmer-v4"), 9, base_actions), truth)


TRUTH = {"observation": (3, 2, 1, 0), "signs": (1, -1, -1, -1), "action_sign": 1,
         "action_order": None, "action_dims": None, "action_dim_signs": None}


def test_recovery_of_the_true_map_its_mirror_and_a_swapped_pair():
  correct = mapping.Map(**{key: TRUTH[key] for key in twins.MAP_KEYS}).as_json()
  assert twins.recovery(correct, TRUTH) == {"true_inputs": 1.0, "distractors": None,
                                            "action": True, "exact": True, "mirrored": False}
  swapped = {**correct, "observation": (2, 3, 1, 0), "signs": (-1, 1, -1, -1)}  # inputs 0, 1 with signs
  assert twins.recovery(swapped, TRUTH) == {"true_inputs": (4 - 2) / 4, "distractors": None,
                                            "action": True, "exact": False, "mirrored": False}
  mirror = {**correct, "signs": (-1, 1, 1, 1), "action_sign": -1}
  assert twins.recovery(mirror, TRUTH) == {"true_inputs": 1.0, "distractors": None,
                                           "action": True, "exact": True, "mirrored": True}
  assert twins.recovery({**correct, "action_sign": -1}, TRUTH)["exact"] is False
  assert twins.recovery({**mirror, "action_sign": 1}, TRUTH)["exact"] is False


def test_recovery_counts_distractors_and_orders():
  truth = {**TRUTH, "observation": (1, None, 0, 1), "signs": (1, 1, -1, -1)}  # noise; input 1 twice
  kept_apart = {**truth, "observation": (1, None, 0, None)}
  assert twins.recovery(kept_apart, truth)["true_inputs"] == 1.0
  assert twins.recovery(kept_apart, truth)["distractors"] == 1.0
  noise_mapped = {**truth, "observation": (None, 2, 0, 1)}
  assert twins.recovery(noise_mapped, truth) == {"true_inputs": 1.0, "distractors": 0.5,
                                                 "action": True, "exact": True, "mirrored": False}
  ordered = {**TRUTH, "action_order": (1, 0, 2)}  # 'order' mode: a mirror is another map
  assert twins.recovery({**ordered, "signs": (-1, 1, 1, 1)}, ordered)["true_inputs"] == 0.0
  assert twins.recovery({**ordered, "action_order": (0, 1, 2)}, ordered)["action"] is False
  dims = {**TRUTH, "action_dims": (1, 0), "action_dim_signs": (1, -1)}  # not in mapping.Map
  assert twins.recovery(TRUTH, dims)["action"] is False  # no dimensions stated: the identity
  assert twins.recovery(dims, dims)["exact"] is True


def test_registered_twins_keep_their_base_criterion_and_time_limit():
  env_id = "spam_tf.rl.twins:CartPole-twin3-v0"
  assert envs.spec_of(env_id).reward_threshold == envs.spec_of("CartPole-v1").reward_threshold == 475
  assert envs.make(env_id).spec.max_episode_steps == 500
  assert envs.spec_of("spam_tf.rl.twins:HalfCheetah-twin0-drop2-noise1-v0").max_episode_steps == 1000
  # (not made: HalfCheetah's model makes MuJoCo write MUJOCO_LOG.TXT into the working directory)
  assert envs.make("spam_tf.rl.twins:Hopper-twin0-drop2-noise1-v0").observation_space.shape == (11 - 2 + 1,)
  assert sum(spec.entry_point == twins.ENTRY_POINT for spec in gym.registry.values()) >= 3840
  assert envs.GymnasiumPyEnvironment(env_id, seed=0).observation_spec().shape == (4,)
  extra = twins.TwinSpec("CartPole-v1", 20, duplicated=1, flip_actions=True)
  try:
    twins.register(extra)
    assert extra.env_id == "spam_tf.rl.twins:CartPole-twin20-dup1-flip-v0"
    assert twins.true_map(extra.env_id)["action_sign"] == -1
  finally:
    gym.registry.pop(extra.name)
  with pytest.raises(envs.EnvError):
    twins.true_map("CartPole-v1")
