import numpy as np
import pytest

from spam_tf.rl import curves
from spam_tf.rl import weights
from spam_tf.spam import metrics
from tests.test_policy import make


@pytest.mark.parametrize("env_id,discrete", [("CartPole-v1", True), ("InvertedPendulum-v4", False)])
def test_flatten_unflatten_round_trip_is_bit_exact(env_id, discrete):
  _, net, _ = make(env_id, seed=1)
  arrays = weights.get(net)
  vector = weights.flatten(arrays)
  assert vector.shape == (sum(a.size for a in arrays),) and vector.dtype == np.float32
  back = weights.unflatten(vector, [a.shape for a in arrays])
  for a, b in zip(arrays, back):
    assert a.tobytes() == b.tobytes()
  # w^-1 into a fresh network, then w again: the same bits
  _, other, _ = make(env_id, seed=2)
  weights.assign(other, back)
  assert weights.flatten(weights.get(other)).tobytes() == vector.tobytes()
  assert len(weights.roles(len(arrays), discrete)) == len(arrays)


def test_order_is_hidden_layers_then_head():
  _, net, _ = make("InvertedPendulum-v4")
  shapes = [a.shape for a in weights.get(net)]
  assert shapes == [(4, 64), (64,), (64, 64), (64,), (64, 1), (1,), (1,)]
  assert weights.roles(7, discrete=False)[-3:] == ["head/kernel", "head/bias", "head/std_bias"]


def test_unflatten_rejects_wrong_length():
  with pytest.raises(ValueError, match="layout needs"):
    weights.unflatten(np.zeros(5), [(2, 2)])


def test_zero_and_sparsity_ratios_on_known_vectors():
  start = np.array([0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 0.5, 3.0])
  final = np.array([0.0, 0.0, 0.1, -0.2, 1.0, 0.0, 0.0, 3.0])
  assert metrics.zero_ratio(start) == 0.5
  assert metrics.sparsity_ratio(start, final) == 4 / 4  # 4 zeros after, 4 before
  assert metrics.zeros_kept_fraction(start, final) == 2 / 4  # only 2 of the original zeros stayed
  assert metrics.zero_ratio(np.array([1e-9, 1.0]), tol=1e-8) == 0.5
  assert metrics.zero_ratio(np.array([1e-9, 1.0])) == 0.0
  assert metrics.sparsity_ratio(np.ones(3), np.zeros(3)) is None
  assert metrics.zeros_kept_fraction(np.ones(3), np.zeros(3)) is None


def test_convergence_uses_the_mean_over_seeds():
  iterations = [0, 1, 2, 3]
  returns = [[10, 500, 500, 500],
             [10, 100, 500, 300]]
  assert curves.iterations_to_convergence(iterations, returns, 500) == 2
  assert curves.iterations_to_convergence(iterations, returns, 501) is None
  assert curves.first_reaching([0, 5, 10], [1, 2, 3], 2) == 5
