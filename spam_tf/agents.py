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


@gin.configurable
def reinforce_agent(time_step_spec, action_spec, actor_net, learning_rate=0.005, gamma=0.99,
                    normalize_returns=True, value_baseline=False, entropy_regularization=None,
                    gradient_clipping=None):
  """REINFORCE with reward-to-go (ReinforceAgent's per-step discounted returns)."""
  value_net = None
  if value_baseline:
    value_net = value_network.ValueNetwork(time_step_spec.observation,
                                           fc_layer_params=(64, 64))
  agent = tfa_reinforce.ReinforceAgent(
      time_step_spec, action_spec, actor_network=actor_net,
      optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate),
      value_network=value_net, gamma=gamma, normalize_returns=normalize_returns,
      entropy_regularization=entropy_regularization, gradient_clipping=gradient_clipping)
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
      normalize_observations=False)
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
