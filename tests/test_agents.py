"""The project's ReinforceAgent is TF-Agents' ReinforceAgent with a faster reward-to-go."""
import inspect

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.agents.reinforce import reinforce_agent as tfa_reinforce
from tf_agents.networks import value_network
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import value_ops

from spam_tf.rl import agents
from spam_tf.rl import collect
from spam_tf.rl import envs
from spam_tf.rl import policy as policy_lib
from spam_tf.rl import train
from spam_tf.rl import weights as weights_lib


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


def test_time_index_baseline_tiny_exact():
  F, M, L = ts.StepType.FIRST, ts.StepType.MID, ts.StepType.LAST
  # Episodes of 3, 2 and 1 steps, each followed by its boundary element (returns 9: ignored).
  step_types = np.array([[F, M, M, L, F, M, L, F, L]], np.int32)
  returns = np.array([[3, 2, 1, 9, 5, 4, 9, 7, 9]], np.float32)
  # t=0: the others' mean of (3, 5, 7); t=1: of (2, 4); t=2: only one episode -> 0.
  np.testing.assert_array_equal(agents.time_index_baseline(returns, step_types),
                                [[6, 4, 0, 0, 5, 2, 0, 4, 0]])


def test_time_and_value_baseline_together_is_refused():
  env = envs.make("CartPole-v1")
  obs_spec = tensor_spec.from_spec(envs.observation_spec(env))
  act_spec = tensor_spec.from_spec(envs.action_spec(env))
  with pytest.raises(ValueError, match="time_baseline or value_baseline"):
    agents.reinforce_agent(ts.time_step_spec(obs_spec), act_spec,
                           agents.actor_network(obs_spec, act_spec), value_baseline=True,
                           time_baseline=True)


def _agent_pair(env_id, **changes):
  """(ours, TF-Agents' own): the same hyperparameters (reinforce_agent's defaults plus
  `changes`) and the same start weights."""
  options = {name: p.default for name, p in inspect.signature(agents.reinforce_agent).parameters.items()
             if p.default is not inspect.Parameter.empty}
  options.update(changes)
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
  if options["value_baseline"]:
    their_value_net = value_network.ValueNetwork(obs_spec, fc_layer_params=(64, 64))
    their_value_net.create_variables()
    their_value_net.set_weights(ours._value_network.get_weights())
  # TF-Agents' own agent takes a baseline through advantage_fn; the test assigns
  # the batch's time-index baseline to this variable before each step.
  baseline = tf.Variable(np.zeros((1, 1), np.float32), shape=tf.TensorShape(None), trainable=False)
  advantage_fn = (lambda returns, _: returns - baseline) if options["time_baseline"] else None
  learning_rate = options["learning_rate"]
  if options["learning_rate_decay_steps"]:
    learning_rate = tf.keras.optimizers.schedules.PolynomialDecay(
        learning_rate, options["learning_rate_decay_steps"], options["final_learning_rate"])
  theirs = tfa_reinforce.ReinforceAgent(
      time_step_spec, act_spec, actor_network=their_net, value_network=their_value_net,
      optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
      gamma=options["gamma"], normalize_returns=options["normalize_returns"],
      advantage_fn=advantage_fn, entropy_regularization=options["entropy_regularization"],
      gradient_clipping=options["gradient_clipping"],
      train_step_counter=tf.Variable(0, dtype=tf.int64, trainable=False))
  theirs.initialize()
  theirs.time_baseline_variable = baseline
  return ours, our_net, theirs, their_net, envs.action_spec(env), options


PLAIN = dict(time_baseline=False, learning_rate=0.005, learning_rate_decay_steps=None)


@pytest.mark.parametrize("env_id,changes", [
    ("CartPole-v1", {}),  # the defaults (time baseline, decaying learning rate)
    ("InvertedPendulum-v4", {}),
    ("CartPole-v1", PLAIN),
    ("InvertedPendulum-v4", PLAIN),
    ("CartPole-v1", {**PLAIN, "value_baseline": True, "gradient_clipping": 0.5}),
    ("InvertedPendulum-v4", {"learning_rate_decay_steps": 2, "final_learning_rate": 0.0001,
                             "entropy_regularization": 0.01}),
])
def test_train_steps_equal_tf_agents_reinforce_agent(env_id, changes):
  tf.keras.utils.set_random_seed(0)
  ours, our_net, theirs, their_net, act_spec, options = _agent_pair(env_id, **changes)
  assert isinstance(ours, agents.ReinforceAgent)
  collector = collect.EpisodeCollector(env_id, num_envs=4)
  rng = np.random.default_rng(1)
  our_train, their_train = train.make_train_fn(ours), train.make_train_fn(theirs)
  for iteration in range(3):
    policy = policy_lib.from_network(our_net, act_spec)
    episodes = collector.collect(lambda obs: policy.sample(obs, rng), 600, iteration)
    experience = collect.to_trajectory(episodes, act_spec)
    if options["time_baseline"]:
      non_last = (experience.next_step_type.numpy() != ts.StepType.LAST).astype(np.float32)
      returns = value_ops.discounted_return(experience.reward,
                                            non_last * experience.discount * options["gamma"],
                                            time_major=False).numpy()
      theirs.time_baseline_variable.assign(
          agents.time_index_baseline(returns, experience.step_type.numpy()))
    # Same returns (bit for bit, see test above) and the same graph after them.
    assert our_train(experience).numpy() == their_train(experience).numpy()
    # The actor's arrays, and the value network's 6 with a baseline.
    expected_count = len(weights_lib.get(our_net)) + (6 if options["value_baseline"] else 0)
    assert len(ours.trainable_variables) == len(theirs.trainable_variables) == expected_count
    for mine, reference in zip(ours.trainable_variables, theirs.trainable_variables):
      np.testing.assert_array_equal(mine.numpy(), reference.numpy())
  assert ours.train_step_counter.numpy() == 3 and theirs.train_step_counter.numpy() == 3
