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


def delayed(iterations, returns, delay):
  """A curve on the axis of equal experience, for a run that spent `delay` iterations'
  worth of env steps before its first iteration (an automatic map's probe): the return
  at iteration i is the one the run had evaluated by then, at its latest evaluated
  iteration <= i - delay, and its start before that. Held, not interpolated: between
  two evaluations the run has the earlier policy, and a blend of two returns would hide
  a task maximum that the run reached at one evaluation only.

  iterations: [E] ints (increasing); returns: [E] floats; delay: float >= 0.
  Returns [E] floats on the same iterations.
  """
  iterations = np.asarray(iterations, np.float64)
  latest = np.searchsorted(iterations, iterations - delay, side="right") - 1
  return np.asarray(returns, np.float64)[np.maximum(latest, 0)].tolist()
