"""When a learning curve reaches a return: the paper's convergence criteria.

Curves are eval returns per evaluated iteration; a return counts as reached when
it is >= the threshold (the task maximum, for the paper).
"""
import numpy as np


def first_reaching(iterations, returns, threshold):
  """First iteration whose return is >= threshold, else None.

  iterations: [E] ints; returns: [E] floats (aligned).
  """
  for iteration, value in zip(iterations, returns):
    if value >= threshold:
      return int(iteration)
  return None


def iterations_to_convergence(iterations, returns_per_seed, threshold):
  """The paper's criterion: first iteration where the mean over seeds reaches threshold.

  iterations: [E]; returns_per_seed: [S, E]. Returns an int or None.
  """
  mean_returns = np.mean(np.asarray(returns_per_seed, np.float64), axis=0)
  return first_reaching(iterations, mean_returns, threshold)
