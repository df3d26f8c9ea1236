"""The actor network's forward pass and sampling in numpy, for collection.

A `tf.function` policy call costs about 1 ms whatever the batch, while one env
step costs 15-45 us, so collecting through the TF-Agents policy would spend
most of its time in call overhead. `NumpyPolicy` holds a copy of the actor
network's weights (refreshed once per iteration) and reproduces the
TF-Agents `ActorPolicy` exactly: the same distribution parameters, the same
greedy action (argmax / mean), and clipping to the action spec.
tests/test_policy.py checks it against the TF-Agents policy.
"""
import dataclasses

import numpy as np

from spam_tf.rl import weights as weights_lib


@dataclasses.dataclass
class NumpyPolicy:
  """Actor MLP + categorical or Gaussian head.

  weights: the actor network's trainable variables in TF-Agents order
    (see spam_tf/rl/weights.py): [kernel, bias] per hidden layer, then the head:
    categorical [logits_kernel, logits_bias]; Gaussian [means_kernel,
    means_bias, std_bias].
  discrete: categorical head (int actions in [0, num_actions)) or Gaussian.
  low, high: float32 [action_dim] bounds of a Gaussian head (mean squashed
    with tanh into them when finite, as TF-Agents' tanh_squash_to_spec).
  """
  weights: list
  activation: str
  discrete: bool
  low: np.ndarray = None
  high: np.ndarray = None

  def __post_init__(self):
    head = 2 if self.discrete else 3
    self.hidden = [(self.weights[i], self.weights[i + 1])
                   for i in range(0, len(self.weights) - head, 2)]
    self.head = self.weights[len(self.weights) - head:]
    if not self.discrete:
      self._squash = bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))
      self._center = (self.high + self.low) / 2.0
      self._magnitude = (self.high - self.low) / 2.0
      self.std = np.logaddexp(0.0, self.head[2]).astype(np.float32)  # softplus

  def params(self, obs):
    """obs [B, obs_dim] float32 -> logits [B, n] or means [B, action_dim]."""
    # In-place ops: on arrays this small, numpy's cost is per call and per
    # allocation, and this runs once per batch step of collection.
    h = obs
    for kernel, bias in self.hidden:
      h = h @ kernel
      h += bias
      if self.activation == "relu":
        np.maximum(h, 0.0, out=h)
      else:
        np.tanh(h, out=h)
    out = h @ self.head[0]
    out += self.head[1]
    if not self.discrete and self._squash:
      np.tanh(out, out=out)
      out *= self._magnitude
      out += self._center
    return out

  def sample(self, obs, rng: np.random.Generator):
    """Stochastic actions [B] int64 or [B, action_dim] float32."""
    out = self.params(obs)
    if self.discrete:
      return sample_categorical(out, rng.gumbel(size=out.shape))
    return self._gaussian_draw(out, rng)

  def _gaussian_draw(self, means, rng):
    actions = rng.standard_normal(means.shape, dtype=np.float32)
    actions *= self.std
    actions += means
    np.maximum(actions, self.low, out=actions)
    return np.minimum(actions, self.high, out=actions)

  def sample_with_info(self, obs, rng: np.random.Generator):
    """(actions, distribution parameters): what PPO's collect policy records.

    Info is {'logits': [B, n]} or {'loc': [B, a], 'scale': [B, a]}; the same
    random draws as `sample`.
    """
    out = self.params(obs)
    if self.discrete:
      return sample_categorical(out, rng.gumbel(size=out.shape)), {"logits": out}
    return self._gaussian_draw(out, rng), {"loc": out, "scale": np.broadcast_to(self.std, out.shape)}

  def greedy(self, obs):
    out = self.params(obs)
    if self.discrete:
      return np.argmax(out, axis=-1)
    return np.minimum(np.maximum(out, self.low), self.high)


def sample_categorical(logits, gumbel_noise):
  """Gumbel-max draw: logits [B, n], standard Gumbel noise [B, n] (overwritten)
  -> int64 [B].

  argmax(logits + G) is distributed as softmax(logits): an exact draw in two
  numpy calls, where an inverse-CDF draw needs a softmax and a cumsum (and
  this runs once per batch step of collection).
  """
  gumbel_noise += logits
  return gumbel_noise.argmax(axis=-1)


def from_network(actor_net, action_spec):
  """A NumpyPolicy holding a copy of the actor network's current weights."""
  discrete = bool(np.issubdtype(action_spec.dtype, np.integer))
  return NumpyPolicy(
      weights_lib.get(actor_net), actor_net.activation_name, discrete,
      None if discrete else np.asarray(action_spec.minimum, np.float32),
      None if discrete else np.asarray(action_spec.maximum, np.float32))
