"""The project's ReinforceAgent is TF-Agents' ReinforceAgent with a faster reward-to-go."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.agents.reinforce import reinforce_agent as tfa_reinforce
from tf_agents.networks import value_network
from tf_agents.specs import tensor_spec
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
  np.testing.assert_array_equal(agents.reward_to_go(rewards, discounts), expected)


def _agent_pair(env_id, **options):
  """(ours, TF-Agents' own): the same hyperparameters and the same start weights."""
  env = envs.make(env_id)
  obs_spec = tensor_spec.from_spec(envs.observation_spec(env))
  act_spec = tensor_spec.from_spec(envs.action_spec(env))
  time_step_spec = ts.time_step_spec(obs_spec)
  our_net = agents.actor_network(obs_spec, act_spec)
  ours = agents.reinforce_agent(time_step_spec, act_spec, our_net, **options)
  their_net = agents.actor_network(obs_spec, act_spec)
  their_net.create_variables()
  weights_lib.assign(their_net, weights_lib.get(our_net))
  their_value_net = None
  if options.get("value_baseline"):
    their_value_net = value_network.ValueNetwork(obs_spec, fc_layer_params=(64, 64))
    their_value_net.create_variables()
    their_value_net.set_weights(ours._value_network.get_weights())
  theirs = tfa_reinforce.ReinforceAgent(
      time_step_spec, act_spec, actor_network=their_net, value_network=their_value_net,
      optimizer=tf.keras.optimizers.Adam(learning_rate=0.005), gamma=0.99, normalize_returns=True,
      gradient_clipping=options.get("gradient_clipping"),
      train_step_counter=tf.Variable(0, dtype=tf.int64, trainable=False))
  theirs.initialize()
  return ours, our_net, theirs, their_net, envs.action_spec(env)


@pytest.mark.parametrize("env_id,options", [
    ("CartPole-v1", {}),
    ("InvertedPendulum-v4", {}),
    ("CartPole-v1", {"value_baseline": True, "gradient_clipping": 0.5}),
])
def test_train_steps_equal_tf_agents_reinforce_agent(env_id, options):
  tf.keras.utils.set_random_seed(0)
  ours, our_net, theirs, their_net, act_spec = _agent_pair(env_id, **options)
  assert isinstance(ours, agents.ReinforceAgent)
  collector = collect.EpisodeCollector(env_id, num_envs=4)
  rng = np.random.default_rng(1)
  our_train, their_train = train.make_train_fn(ours), train.make_train_fn(theirs)
  for iteration in range(3):
    policy = train.numpy_policy(our_net, act_spec)
    episodes = collector.collect(lambda obs: policy.sample(obs, rng), 600, iteration)
    experience = collect.to_trajectory(episodes, act_spec)
    # Same returns (bit for bit, see test above) and the same graph after them.
    assert our_train(experience).numpy() == their_train(experience).numpy()
    # The actor's arrays, and the value network's 6 with a baseline.
    expected_count = len(weights_lib.get(our_net)) + (6 if options.get("value_baseline") else 0)
    assert len(ours.trainable_variables) == len(theirs.trainable_variables) == expected_count
    for mine, reference in zip(ours.trainable_variables, theirs.trainable_variables):
      np.testing.assert_array_equal(mine.numpy(), reference.numpy())
  assert ours.train_step_counter.numpy() == 3 and theirs.train_step_counter.numpy() == 3
