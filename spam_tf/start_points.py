"""Start-point methods: what f2 starts from, given the source expert M*.

A method maps the expert's weight vector w(M*) [d] (spam_tf.weights order) and
what it needs from the seed's autoencoder unit to a start vector [d] in the
source layout, or None for the target's own initialisation. The transfer
(spam_tf.transfer) then carries it onto the target network, the same way for
every method. The controls ask what SPAM's starting point owes to the
autoencoder and what to simpler operations on M*:

  scratch     the target's own seeded initialisation (no source);
  spam        w(g(M*)), the autoencoder's reconstruction (the paper's method);
  copy        M* itself (the classic starting-point transfer, Taylor et al.);
  prune       M* with its smallest-magnitude weights zeroed until it has the
              zero ratio of that seed's SPAM reconstruction;
  relu        the autoencoder's output activation applied to M* elementwise
              (ReLU: negative weights zeroed), no autoencoder;
  relu_prune  relu, then the smallest remaining positive weights zeroed until
              it has SPAM's zero ratio;
  noise       M* plus Gaussian noise whose norm equals that seed's SPAM
              reconstruction error ||w(g(M*)) - w(M*)||.

Adding a method: one function (expert, reconstruction, output_activation, seed)
-> vector or None, and one line in METHODS.
"""
import numpy as np

from spam_tf import collect

_ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0.0), "linear": lambda x: x}


def scratch(expert, reconstruction, output_activation, seed):
  return None


def spam(expert, reconstruction, output_activation, seed):
  return np.asarray(reconstruction, np.float32)


def copy(expert, reconstruction, output_activation, seed):
  return np.asarray(expert, np.float32)


def _zero_smallest(vector, zeros_wanted, candidates):
  """vector [d] with its smallest-magnitude entries among `candidates` (bool [d]) set to
  0, until it has `zeros_wanted` exact zeros (or all candidates are zero)."""
  out = np.array(vector, np.float32, copy=True)
  missing = zeros_wanted - int(np.sum(out == 0))
  if missing <= 0:
    return out
  nonzero = np.flatnonzero(candidates & (out != 0))
  order = nonzero[np.argsort(np.abs(out[nonzero]), kind="stable")]
  out[order[:missing]] = 0.0
  return out


def prune(expert, reconstruction, output_activation, seed):
  expert = np.asarray(expert, np.float32)
  return _zero_smallest(expert, int(np.sum(reconstruction == 0)), np.ones(expert.shape, bool))


def relu(expert, reconstruction, output_activation, seed):
  if output_activation not in _ACTIVATIONS:
    raise ValueError(f"start point 'relu': unknown output activation {output_activation!r}")
  return _ACTIVATIONS[output_activation](np.asarray(expert, np.float32)).astype(np.float32)


def relu_prune(expert, reconstruction, output_activation, seed):
  activated = relu(expert, reconstruction, output_activation, seed)
  return _zero_smallest(activated, int(np.sum(reconstruction == 0)), activated > 0)


def noise(expert, reconstruction, output_activation, seed):
  expert = np.asarray(expert, np.float64)
  distance = np.linalg.norm(np.asarray(reconstruction, np.float64) - expert)
  direction = np.random.default_rng(collect.derive_seed(seed, 5)).normal(size=expert.shape)
  return (expert + direction * (distance / np.linalg.norm(direction))).astype(np.float32)


METHODS = {"scratch": scratch, "spam": spam, "copy": copy, "prune": prune, "relu": relu,
           "relu_prune": relu_prune, "noise": noise}


def start_vector(method, expert, reconstruction, output_activation, seed):
  """The start vector [d] of `method` (None: the target's own initialisation)."""
  if method not in METHODS:
    raise ValueError(f"unknown start-point method {method!r}; choose from {sorted(METHODS)}")
  return METHODS[method](expert, reconstruction, output_activation, seed)
