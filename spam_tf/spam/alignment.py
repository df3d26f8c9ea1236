"""Permutation alignment of MLP policies: weight matching (Ainsworth, Hayase and
Srinivasa, "Git Re-Basin", ICLR 2023).

The hidden units of an MLP can be reordered without changing what it computes.
Experts trained from different initialisations hold similar features in
different orders, so their weight vectors are far apart although their
functions are close, and an autoencoder over a zoo of them has no common
structure to learn. Weight matching puts a network's hidden units in the order
that makes its weights most similar to a reference network's, one hidden layer
at a time (a linear assignment), until no layer changes.

Arrays are in spam_tf.rl.weights order: hidden_i/kernel [in, h_i], hidden_i/bias
[h_i], ..., head/kernel [h_last, n], head/bias [n] (and a Gaussian head's
std_bias [n]). A permutation p of layer i makes new unit j the old unit p[j].
"""
import numpy as np
from scipy import optimize

from spam_tf.rl import weights as weights_lib


def _hidden_layers(shapes):
  return sum(len(s) == 2 for s in shapes) - 1  # every 2-D array is a kernel; the last is the head's


def permute(arrays, permutations):
  """The same network with its hidden units reordered. arrays: list in spam_tf.rl.weights
  order; permutations: one index array [h_i] per hidden layer."""
  out = [np.array(a, copy=True) for a in arrays]
  for i, p in enumerate(permutations):
    out[2 * i] = out[2 * i][:, p]           # units' incoming weights
    out[2 * i + 1] = out[2 * i + 1][p]      # their biases
    out[2 * i + 2] = out[2 * i + 2][p, :]   # their outgoing weights (next kernel's rows)
  return out


def _similarity(reference, arrays, permutations, i):
  """[h_i, h_i]: how alike reference unit a and unit b of layer i are, given the other
  layers' current permutations (incoming rows and outgoing columns put in order)."""
  incoming = arrays[2 * i] if i == 0 else arrays[2 * i][permutations[i - 1], :]
  outgoing = arrays[2 * i + 2]
  if i + 1 < len(permutations):
    outgoing = outgoing[:, permutations[i + 1]]
  return (reference[2 * i].T @ incoming + np.outer(reference[2 * i + 1], arrays[2 * i + 1])
          + reference[2 * i + 2] @ outgoing.T)


def match(vector, reference, shapes, max_rounds=100):
  """Permutations (one per hidden layer) that put vector's hidden units in the order of
  reference's. vector, reference: [d] weight vectors of the same layout."""
  arrays = [a.astype(np.float64) for a in weights_lib.unflatten(vector, shapes)]
  target = [a.astype(np.float64) for a in weights_lib.unflatten(reference, shapes)]
  permutations = [np.arange(shapes[2 * i][1]) for i in range(_hidden_layers(shapes))]
  for _ in range(max_rounds):
    changed = False
    for i in range(len(permutations)):
      _, assignment = optimize.linear_sum_assignment(_similarity(target, arrays, permutations, i),
                                                     maximize=True)
      if not np.array_equal(assignment, permutations[i]):
        permutations[i], changed = assignment, True
    if not changed:
      break
  return permutations


def apply(vector, permutations, shapes):
  """vector [d] with its hidden units reordered by permutations (from match)."""
  return weights_lib.flatten(permute(weights_lib.unflatten(vector, shapes), permutations))
