"""w and w^-1 of Algorithm 1: a policy's weights as one vector and back.

Order (fixed, the actor network's `trainable_variables` order in TF-Agents):
  hidden_0/kernel [obs_dim, h0], hidden_0/bias [h0], hidden_1/kernel, ...,
  then the head: categorical  head/kernel [h_last, n], head/bias [n];
                 Gaussian     head/kernel [h_last, a], head/bias [a],
                              head/std_bias [a].
Kernels flatten row-major (numpy C order). The value network, if any, is not
part of w.
"""
import numpy as np


def roles(num_arrays: int, discrete: bool):
  """Role names of an actor's arrays, e.g. ['hidden_0/kernel', ..., 'head/bias']."""
  head = ["head/kernel", "head/bias"] + ([] if discrete else ["head/std_bias"])
  hidden_count = (num_arrays - len(head)) // 2
  names = []
  for i in range(hidden_count):
    names += [f"hidden_{i}/kernel", f"hidden_{i}/bias"]
  return names + head


def flatten(arrays) -> np.ndarray:
  """w: list of arrays -> float32 vector [d], d = total number of weights."""
  return np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays])


def unflatten(vector, shapes):
  """w^-1: vector [d] -> list of float32 arrays with the given shapes."""
  vector = np.asarray(vector, np.float32)
  sizes = [int(np.prod(s)) for s in shapes]
  if vector.shape != (sum(sizes),):
    raise ValueError(f"weight vector has shape {vector.shape}, layout needs ({sum(sizes)},)")
  offsets = np.cumsum([0] + sizes)
  return [vector[offsets[i]:offsets[i + 1]].reshape(s) for i, s in enumerate(shapes)]


def get(network):
  """The network's trainable weights as numpy arrays (TF-Agents order)."""
  return [v.numpy() for v in network.trainable_variables]


def assign(network, arrays):
  """Loads arrays into the network's trainable variables (shapes must match)."""
  variables = network.trainable_variables
  if len(variables) != len(arrays):
    raise ValueError(f"network has {len(variables)} weight arrays, got {len(arrays)}")
  for var, value in zip(variables, arrays):
    if tuple(var.shape) != tuple(np.shape(value)):
      raise ValueError(f"{var.name}: shape {tuple(var.shape)} != {np.shape(value)}")
    var.assign(value)
