"""TF-Agents agents for f1 and f2, built from gin-configurable keyword arguments.

Gin scopes `source/` and `target/` let one config give f1 and f2 different
hyperparameters (or algorithms), e.g. `target/reinforce_agent.learning_rate`.
"""
import gin
import numpy as np
import tensorflow as tf
from tf_agents.agents.ppo import ppo_clip_agent
from tf_agents.agents.reinforce import reinforce_agent as tfa_reinforce
from tf_agents.networks import actor_distribution_network
from tf_agents.networks import normal_projection_network
from tf_agents.networks import value_network
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import eager_utils


def _train_step_counter():
  # The agent's own counter: TF-Agents' default is TF1's process-wide global step.
  return tf.Variable(0, dtype=tf.int64, trainable=False, name="train_step")


@gin.configurable
def actor_network(observation_spec, action_spec, fc_layer_params=(64, 64), activation="relu"):
  """The paper's policy: an MLP with a categorical or Gaussian head."""
  activation_fn = {"relu": tf.keras.activations.relu, "tanh": tf.keras.activations.tanh}
  if activation not in activation_fn:
    raise ValueError(f"activation must be one of {sorted(activation_fn)}, got {activation!r}")
  bounded = np.all(np.isfinite(action_spec.minimum)) and np.all(np.isfinite(action_spec.maximum))

  def gaussian_head(spec):
    # tanh-squash the mean into finite bounds (TF-Agents' default); identity otherwise.
    return normal_projection_network.NormalProjectionNetwork(
        spec, mean_transform=(normal_projection_network.tanh_squash_to_spec if bounded else None))

  net = actor_distribution_network.ActorDistributionNetwork(
      observation_spec, action_spec, fc_layer_params=tuple(fc_layer_params),
      activation_fn=activation_fn[activation], continuous_projection_net=gaussian_head)
  net.activation_name = activation  # read by the numpy copy of the forward pass
  return net


def reward_to_go(rewards, discounts):
  """Discounted reward-to-go along each row: R[t] = rewards[t] + discounts[t] * R[t + 1].

  rewards, discounts: float32 [B, T] (batch-major, as ReinforceAgent's
  value_ops.discounted_return(..., time_major=False) takes them; the return
  after the last step is 0). Returns float32 [B, T], computed in float32 one
  step at a time like the tf.scan it replaces, so the results are the same.
  """
  returns = np.empty(rewards.shape, np.float32)
  for row_rewards, row_discounts, row_returns in zip(rewards, discounts, returns):
    running = np.float32(0.0)
    for t in range(len(row_rewards) - 1, -1, -1):
      running = row_rewards[t] + row_discounts[t] * running
      row_returns[t] = running
  return returns


def time_index_baseline(returns, step_types):
  """Leave-one-out mean of the reward-to-go of the other episodes at the same time index.

  returns: float32 [B, T] reward-to-go; step_types: int32 [B, T] (FIRST starts an
  episode, LAST marks the boundary element after its last step; rows are runs of
  whole episodes, as collect.to_trajectory makes them). Returns float32 [B, T]:
  for step t of episode i, the mean of R_j(t) over the other episodes j of the
  batch that last longer than t (0 where none does, and on boundary elements).

  Why: once episodes run to the time limit, the reward-to-go at time t is the
  same for every episode that lasts, whatever it did: subtracting it leaves the
  part that the actions change. It does not depend on episode i's own actions
  (it is built from the other episodes), so the gradient stays unbiased.
  """
  returns = np.asarray(returns, np.float32)
  baseline = np.zeros_like(returns)
  for row_returns, row_types, row_baseline in zip(returns, step_types, baseline):
    positions = np.arange(len(row_types))
    starts = np.maximum.accumulate(np.where(row_types == ts.StepType.FIRST, positions, 0))
    time_index = positions - starts
    real = row_types != ts.StepType.LAST
    sums = np.bincount(time_index[real], weights=row_returns[real].astype(np.float64))
    counts = np.bincount(time_index[real])
    others = counts[time_index[real]] - 1
    leave_one_out = (sums[time_index[real]] - row_returns[real]) / np.maximum(others, 1)
    row_baseline[real] = np.where(others > 0, leave_one_out, 0.0)
  return baseline


class ReinforceAgent(tfa_reinforce.ReinforceAgent):
  """TF-Agents' ReinforceAgent, with the reward-to-go computed by a plain loop.

  The parent's tf.scan over a [1, T] batch runs T graph steps of ~15 us each:
  at T = 5000 that was 80 of the 110 ms of a gradient step (the loop: ~3 ms). This `_train` is
  the parent's with `reward_to_go` instead (and without its debug summaries);
  the loss (total_loss), clipping and update are the parent's own.
  tests/test_agents.py checks it against the parent, step for step.

  time_baseline=True subtracts `time_index_baseline` from the reward-to-go
  before the parent's total_loss (and its return normalisation): the parent
  with advantage_fn = returns - that baseline, which the test also checks.
  """

  def __init__(self, *args, time_baseline=False, **kwargs):
    super().__init__(*args, **kwargs)
    if time_baseline and self._baseline:
      raise ValueError("reinforce_agent: choose time_baseline or value_baseline, not both")
    self._time_baseline = time_baseline

  def _train(self, experience, weights=None):
    experience = self._as_trajectory(experience)
    # As the parent: no bootstrapping across episodes (reward follows next_step_type).
    non_last_mask = tf.cast(tf.math.not_equal(experience.next_step_type, ts.StepType.LAST),
                            tf.float32)
    discounts = non_last_mask * experience.discount * self._gamma
    returns = tf.numpy_function(reward_to_go, [experience.reward, discounts], tf.float32,
                                stateful=False)
    returns = tf.ensure_shape(returns, experience.reward.shape)
    if self._time_baseline:
      baseline = tf.numpy_function(time_index_baseline, [returns, experience.step_type],
                                   tf.float32, stateful=False)
      returns = returns - tf.ensure_shape(baseline, experience.reward.shape)
    with tf.GradientTape() as tape:
      loss_info = self.total_loss(experience, returns, weights=weights, training=True)
      tf.debugging.check_numerics(loss_info.loss, "Loss is inf or nan")
    variables_to_train = self._actor_network.trainable_weights
    if self._baseline:
      variables_to_train += self._value_network.trainable_weights
    grads_and_vars = list(zip(tape.gradient(loss_info.loss, variables_to_train),
                              variables_to_train))
    if self._gradient_clipping:
      grads_and_vars = eager_utils.clip_gradient_norms(grads_and_vars, self._gradient_clipping)
    self._optimizer.apply_gradients(grads_and_vars)
    self.train_step_counter.assign_add(1)
    return tf.nest.map_structure(tf.identity, loss_info)


@gin.configurable
def reinforce_agent(time_step_spec, action_spec, actor_net, learning_rate=0.007, gamma=0.99,
                    normalize_returns=True, value_baseline=False, time_baseline=True,
                    entropy_regularization=None, gradient_clipping=None,
                    learning_rate_decay_steps=100, final_learning_rate=0.0007):
  """REINFORCE with reward-to-go (ReinforceAgent's per-step discounted returns).

  Baselines (at most one): value_baseline, a learned 2x64 state-value network
  (TF-Agents'); time_baseline, the other episodes' mean reward-to-go at the same
  time index (`time_index_baseline`).
  learning_rate_decay_steps: None for a constant learning rate, or the number of
  gradient steps (= iterations) over which it falls linearly to final_learning_rate
  (then stays there); the step count is Adam's own, checkpointed with it.
  The defaults are the winner of the learner search (bin/spam_learners, WORKSPACE.md):
  the time baseline, Adam 0.007 falling to 0.0007 over 100 gradient steps.
  """
  if learning_rate_decay_steps:
    learning_rate = tf.keras.optimizers.schedules.PolynomialDecay(
        learning_rate, learning_rate_decay_steps, final_learning_rate, power=1.0)
  value_net = None
  if value_baseline:
    value_net = value_network.ValueNetwork(time_step_spec.observation,
                                           fc_layer_params=(64, 64))
  agent = ReinforceAgent(
      time_step_spec, action_spec, actor_network=actor_net,
      optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
      value_network=value_net, gamma=gamma, normalize_returns=normalize_returns,
      entropy_regularization=entropy_regularization, gradient_clipping=gradient_clipping,
      train_step_counter=_train_step_counter(), time_baseline=time_baseline)
  agent.initialize()
  return agent


@gin.configurable
def ppo_agent(time_step_spec, action_spec, actor_net, learning_rate=3e-4, num_epochs=10,
              importance_ratio_clipping=0.2, lambda_value=0.95, discount_factor=0.99,
              entropy_regularization=0.0, use_gae=True, normalize_rewards=True):
  """TF-Agents' PPO (clip) with a 2x64 value network.

  Observation normalization stays off: it would sit in front of the actor
  network, so the actor's weights alone would no longer be the policy (w and
  the transferred start point would lose their meaning).
  """
  agent = ppo_clip_agent.PPOClipAgent(
      time_step_spec, action_spec, optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
      actor_net=actor_net,
      value_net=value_network.ValueNetwork(time_step_spec.observation, fc_layer_params=(64, 64)),
      importance_ratio_clipping=importance_ratio_clipping, lambda_value=lambda_value,
      discount_factor=discount_factor, entropy_regularization=entropy_regularization,
      num_epochs=num_epochs, use_gae=use_gae, normalize_rewards=normalize_rewards,
      normalize_observations=False, train_step_counter=_train_step_counter())
  agent.initialize()
  return agent


@gin.configurable
def make_agent(observation_array_spec, action_array_spec, algorithm="reinforce"):
  """Builds the agent for `algorithm` ('reinforce' or 'ppo'); returns (agent, actor_net)."""
  observation_spec = tensor_spec.from_spec(observation_array_spec)
  action_spec = tensor_spec.from_spec(action_array_spec)
  time_step_spec = ts.time_step_spec(observation_spec)
  actor_net = actor_network(observation_spec, action_spec)
  builders = {"reinforce": reinforce_agent, "ppo": ppo_agent}
  if algorithm not in builders:
    raise ValueError(f"unknown algorithm {algorithm!r}; choose from {sorted(builders)}")
  return builders[algorithm](time_step_spec, action_spec, actor_net), actor_net
