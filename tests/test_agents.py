"""The project's ReinforceAgent is TF-Agents' ReinforceAgent with a faster reward-to-go."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.agents.reinforce import reinforce_agent as tfa_reinforce
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import value_ops

from spam_tf import agents
from spam_tf import collect
from spam_tf import envs
from spam_tf import train
from spam_tf import weights as weights_lib


def test_reward_to_go_tiny_exact():
  rewards = np.array([[1.0, 1.0, 1.0, 0.0], [2.0, 0.0, 4.0, 8.0]], np.float32)
  discounts = np.array([[0.5, 0.5, 0.0, 0.9], [0.5, 0.5, 0.5, 0.5]], np.float32)
  # Row 0: an episode boundary (discount 0) at t=2 stops the sum there.
  np.testing.assert_array_equal(agents.reward_to_go(rewards, discounts),
                                [[1.75, 1.5, 1.0, 0.0], [4.0, 4.0, 8.0, 8.0]])


def test_reward_to_go_equals_tf_agents_discounted_return():
  rng = np.random.default_rng(0)
  rewards = rng.normal(size=(3, 400)).astype(np.float32)
  discounts = np.where(rng.random((3, 400)) < 0.05, 0.0, 0.99).astype(np.float32)
  expected = value_ops.discounted_return(rewards, discounts, time_major=False).numpy()
  np.testing.assert_allclose(agents.reward_to_go(rewards, discounts), expected, rtol=1e-5, atol=1e-5)


def _agent_pair(env_id, gamma):
  """(ours, TF-Agents' own), same hyperparameters and the same start weights."""
  env = envs.make(env_id)
  obs_spec, act_spec = envs.observation_spec(env), envs.action_spec(env)
  ours, our_net = agents.make_agent(obs_spec, act_spec)
  _, their_net = agents.make_agent(obs_spec, act_spec)
  weights_lib.assign(their_net, weights_lib.get(our_net))
  theirs = tfa_reinforce.ReinforceAgent(
      ours.time_step_spec, ours.action_spec, actor_network=their_net,
      optimizer=tf.keras.optimizers.Adam(learning_rate=0.005), gamma=gamma, normalize_returns=True)
  theirs.initialize()
  return ours, our_net, theirs, their_net, act_spec


@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v4"])
def test_train_steps_equal_tf_agents_reinforce_agent(env_id):
  tf.keras.utils.set_random_seed(0)
  ours, our_net, theirs, their_net, act_spec = _agent_pair(env_id, gamma=0.99)
  assert isinstance(ours, agents.ReinforceAgent) and ours._gamma == 0.99
  collector = collect.EpisodeCollector(env_id, num_envs=4)
  rng = np.random.default_rng(1)
  for iteration in range(3):
    policy = train.numpy_policy(our_net, act_spec)
    episodes = collector.collect(lambda obs: policy.sample(obs, rng), 600, iteration)
    experience = collect.to_trajectory(episodes, act_spec)
    our_loss = train.make_train_fn(ours)(experience)
    their_loss = train.make_train_fn(theirs)(experience)
    np.testing.assert_allclose(our_loss.numpy(), their_loss.numpy(), rtol=1e-4)
    for mine, reference in zip(weights_lib.get(our_net), weights_lib.get(their_net)):
      np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5)
  assert ours.train_step_counter.numpy() == 3
