"""The paper's metrics of the weights (section 4.1.3) as small pure functions.

Weight vectors are float arrays [d] from spam_tf.rl.weights.flatten. A weight
counts as zero when |w| <= tol; the default tol=0 counts exact zeros only,
as the paper's definitions do.
"""
import numpy as np


def _zeros(vector, tol):
  return np.abs(np.asarray(vector, np.float64)) <= tol


def zero_ratio(vector, tol=0.0) -> float:
  """Definition 4.1: fraction of zero entries of w(g(M*)). vector: [d]."""
  return float(np.mean(_zeros(vector, tol)))


def sparsity_ratio(start, final, tol=0.0):
  """Definition 4.2: zeros after f2 / zeros in the start point. start, final: [d].

  None when the start point has no zeros (the ratio is undefined).
  """
  start_zeros = int(_zeros(start, tol).sum())
  if start_zeros == 0:
    return None
  return float(_zeros(final, tol).sum() / start_zeros)


def zeros_kept_fraction(start, final, tol=0.0):
  """Fraction of the start point's zeros still zero after f2. start, final: [d].

  Unlike sparsity_ratio it does not count zeros that appear elsewhere.
  None when the start point has no zeros.
  """
  start_zeros = _zeros(start, tol)
  if not start_zeros.any():
    return None
  return float((start_zeros & _zeros(final, tol)).sum() / start_zeros.sum())

