"""Start-point methods: what f2 starts from, given the source expert M*.

A method maps the expert's weight vector w(M*) [d] (spam_tf.rl.weights order) and
what it needs from the seed's autoencoder unit to a start vector [d] in the
source layout, or None for the target's own initialisation. The transfer
(spam_tf.spam.transfer) then carries it onto the target network, the same way for
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
Beyond the paper, from the genome autoencoder trained on a zoo of source
experts (spam_tf/spam/genome.py), which reads the seed's genome unit instead:
  genome         decode(encode(M*));
  genome_mean    decode(the mean code of the zoo's best policies);
  genome_sample  decode(a code drawn around that mean);
and their control with no autoencoder, which reads the zoo's experts themselves:
  zoo_mean       the mean weights of the zoo's best networks, the ones genome_mean
                 averages the codes of (the same for every code size).

Adding a method: one function StartInputs -> vector or None, and one line in
METHODS naming what it reads besides the expert: 'expert' (M* alone), 'autoencoder'
(the seed's autoencoder unit), 'genome' (its genome unit), 'zoo' (the zoo's
experts), or None for no source at all (scratch). WORKSPACE.md has the recipe and
tests/test_recipes.py follows it.
"""
import dataclasses
from typing import Optional

import numpy as np

from spam_tf.rl import collect

_ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0.0), "linear": lambda x: x}


@dataclasses.dataclass
class StartInputs:
  """What a method may read. expert: w(M*) [d]; reconstruction: w(g(M*)) [d] (from the
  seed's autoencoder unit); genome: {method: vector [d]} (from its genome unit);
  zoo_mean: the zoo's best networks' mean [d] (from the zoo's experts)."""
  expert: np.ndarray
  seed: int
  reconstruction: Optional[np.ndarray] = None
  output_activation: str = "relu"
  genome: Optional[dict] = None
  zoo_mean: Optional[np.ndarray] = None


def scratch(inputs):
  return None


def spam(inputs):
  return np.asarray(inputs.reconstruction, np.float32)


def copy(inputs):
  return np.asarray(inputs.expert, np.float32)


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


def prune(inputs):
  expert = np.asarray(inputs.expert, np.float32)
  return _zero_smallest(expert, int(np.sum(inputs.reconstruction == 0)), np.ones(expert.shape, bool))


def relu(inputs):
  if inputs.output_activation not in _ACTIVATIONS:
    raise ValueError(f"start point 'relu': unknown output activation {inputs.output_activation!r}")
  return _ACTIVATIONS[inputs.output_activation](np.asarray(inputs.expert, np.float32)).astype(np.float32)


def relu_prune(inputs):
  activated = relu(inputs)
  return _zero_smallest(activated, int(np.sum(inputs.reconstruction == 0)), activated > 0)


def noise(inputs):
  expert = np.asarray(inputs.expert, np.float64)
  distance = np.linalg.norm(np.asarray(inputs.reconstruction, np.float64) - expert)
  direction = np.random.default_rng(collect.derive_seed(inputs.seed, 5)).normal(size=expert.shape)
  return (expert + direction * (distance / np.linalg.norm(direction))).astype(np.float32)


def _from_genome(method):
  def start(inputs):
    return np.asarray(inputs.genome[method], np.float32)
  start.__name__ = method
  return start


def zoo_mean(inputs):
  return np.asarray(inputs.zoo_mean, np.float32)


# name: (function, what it reads besides the expert). copy and relu read only M*,
# but like every control they run beside the seed's SPAM (same dependencies).
METHODS = {"scratch": (scratch, None), "spam": (spam, "autoencoder"), "copy": (copy, "autoencoder"),
           "prune": (prune, "autoencoder"), "relu": (relu, "autoencoder"),
           "relu_prune": (relu_prune, "autoencoder"), "noise": (noise, "autoencoder"),
           "genome": (_from_genome("genome"), "genome"),
           "genome_mean": (_from_genome("genome_mean"), "genome"),
           "genome_sample": (_from_genome("genome_sample"), "genome"), "zoo_mean": (zoo_mean, "zoo")}


# What runs when no method is named: the paper's method and its controls. The genome
# methods and zoo_mean need a zoo of extra source experts (20 by default): named explicitly.
DEFAULT_METHODS = ("scratch", "spam", "copy", "prune", "relu", "relu_prune", "noise")


def _check(method):
  if method not in METHODS:
    raise ValueError(f"unknown start-point method {method!r}; choose from {sorted(METHODS)}")


def reads(method):
  """What `method` reads besides the expert: 'autoencoder' or 'genome' (that unit of the
  seed), 'zoo' (the zoo's experts), 'expert' (nothing more), or None (no source)."""
  _check(method)
  return METHODS[method][1]


def start_vector(method, inputs):
  """The start vector [d] of `method` (None: the target's own initialisation)."""
  _check(method)
  return METHODS[method][0](inputs)
