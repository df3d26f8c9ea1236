"""The numpy collection policy must be the TF-Agents policy, just faster."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.trajectories import time_step as ts

from spam_tf.rl import agents
from spam_tf.rl import collect
from spam_tf.rl import envs
from spam_tf.rl import policy as policy_lib


def make(env_id, seed=0, **actor_kwargs):
  tf.keras.utils.set_random_seed(seed)
  env = envs.make(env_id)
  obs_spec, act_spec = envs.observation_spec(env), envs.action_spec(env)
  agent, net = agents.make_agent(obs_spec, act_spec)
  # Non-trivial weights: the fresh head is scaled down to near-uniform outputs.
  rng = np.random.default_rng(seed)
  for var in net.trainable_variables:
    var.assign(rng.normal(0.0, 0.5, var.shape).astype(np.float32))
  return agent, net, act_spec


@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v4"])
def test_distribution_and_greedy_match_tf_agents(env_id):
  agent, net, act_spec = make(env_id)
  fast = policy_lib.from_network(net, act_spec)
  obs = np.random.default_rng(1).normal(0, 1, (64, 4)).astype(np.float32)
  step = ts.restart(tf.constant(obs), batch_size=64)
  dist = agent.collect_policy.distribution(step).action
  if fast.discrete:
    np.testing.assert_allclose(fast.params(obs), dist.logits_parameter().numpy(), rtol=1e-5, atol=1e-5)
  else:
    np.testing.assert_allclose(fast.params(obs), dist.mean().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.broadcast_to(fast.std, (64, 1)), dist.stddev().numpy(), rtol=1e-6)
  np.testing.assert_allclose(fast.greedy(obs), agent.policy.action(step).action.numpy(), atol=1e-5)


def test_categorical_sampling_is_gumbel_max_on_tf_logits():
  agent, net, act_spec = make("CartPole-v1")
  fast = policy_lib.from_network(net, act_spec)
  obs = np.random.default_rng(2).normal(0, 1, (256, 4)).astype(np.float32)
  noise = np.random.default_rng(3).gumbel(size=(256, 2))
  logits = agent.collect_policy.distribution(ts.restart(tf.constant(obs), 256)).action.logits_parameter()
  expected = np.argmax(logits.numpy() + noise, axis=1)
  np.testing.assert_array_equal(policy_lib.sample_categorical(fast.params(obs), noise.copy()), expected)
  # The same draws through sample(): the policy's generator feeds the noise.
  np.testing.assert_array_equal(fast.sample(obs, np.random.default_rng(3)), expected)


def test_categorical_draw_frequencies_follow_softmax():
  logits = np.log(np.array([[0.1, 0.2, 0.7]] * 200_000, np.float32))
  draws = policy_lib.sample_categorical(logits, np.random.default_rng(0).gumbel(size=logits.shape))
  # 200k draws: the standard error of each frequency is below 0.0011.
  np.testing.assert_allclose(np.bincount(draws, minlength=3) / len(draws), [0.1, 0.2, 0.7], atol=0.005)


def test_gaussian_samples_are_mean_plus_std_noise_clipped():
  _, net, act_spec = make("InvertedPendulum-v4")
  fast = policy_lib.from_network(net, act_spec)
  obs = np.zeros((5, 4), np.float32)
  actions = fast.sample(obs, np.random.default_rng(4))
  noise = np.random.default_rng(4).standard_normal((5, 1), dtype=np.float32)
  np.testing.assert_allclose(actions, np.clip(fast.params(obs) + fast.std * noise, -3, 3), rtol=1e-6)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v4"])
def test_fast_collector_equals_plain_tf_agents_loop(env_id):
  """Greedy episodes: batched numpy collector vs TF-Agents PyEnvironment + TF policy, one step at a time."""
  agent, net, act_spec = make(env_id, seed=5)
  fast = policy_lib.from_network(net, act_spec)
  collector = collect.EpisodeCollector(env_id, num_envs=3)
  episodes = collector.collect(fast.greedy, min_steps=0, seed=11)
  assert sorted(ep.env_index for ep in episodes) == [0, 1, 2]
  for episode in episodes:
    env = envs.GymnasiumPyEnvironment(env_id, collect.derive_seed(11, episode.env_index))
    step, observations, actions, rewards = env.reset(), [], [], []
    while True:
      observations.append(step.observation)
      action = agent.policy.action(
          tf.nest.map_structure(lambda x: tf.constant(x)[None], step)).action.numpy()[0]
      actions.append(action)
      step = env.step(action)
      rewards.append(step.reward)
      if step.is_last():
        observations.append(step.observation)
        break
    # Continuous actions agree to float32 rounding (numpy vs TF tanh), not bit for bit.
    np.testing.assert_allclose(episode.observations, np.array(observations), atol=1e-4)
    np.testing.assert_allclose(np.asarray(episode.actions), np.array(actions), atol=1e-5)
    np.testing.assert_array_equal(episode.rewards, np.array(rewards, np.float32))
    assert episode.terminated == (step.discount == 0.0)

