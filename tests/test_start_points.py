"""Each start-point method is what it claims, on a tiny vector with hand-computed answers."""
import numpy as np
import pytest

from spam_tf import start_points

EXPERT = np.array([0.5, -0.2, 0.1, -0.8, 0.3, 0.0], np.float32)
RECONSTRUCTION = np.array([0.5, 0.0, 0.0, 0.0, 0.3, 0.0], np.float32)  # 4 zeros of 6
GENOME = {"genome": EXPERT + 1, "genome_mean": EXPERT + 2, "genome_sample": EXPERT + 3}
ZOO_MEAN = EXPERT + 4


def start(method, activation="relu", seed=0):
  return start_points.start_vector(method, start_points.StartInputs(
      EXPERT, seed, RECONSTRUCTION, activation, GENOME, ZOO_MEAN))


def test_scratch_spam_copy():
  assert start("scratch") is None
  np.testing.assert_array_equal(start("spam"), RECONSTRUCTION)
  np.testing.assert_array_equal(start("copy"), EXPERT)


def test_prune_has_spams_zero_ratio_and_keeps_the_largest_magnitudes():
  # One zero already; the three smallest nonzero magnitudes (0.1, 0.2, 0.3) go.
  np.testing.assert_array_equal(start("prune"), np.float32([0.5, 0.0, 0.0, -0.8, 0.0, 0.0]))


def test_relu_is_the_elementwise_output_activation():
  np.testing.assert_array_equal(start("relu"), np.float32([0.5, 0.0, 0.1, 0.0, 0.3, 0.0]))
  np.testing.assert_array_equal(start("relu", activation="linear"), EXPERT)


def test_relu_prune_is_relu_then_the_smallest_positives_pruned():
  # relu leaves 3 zeros; one more: the smallest positive, 0.1.
  np.testing.assert_array_equal(start("relu_prune"), np.float32([0.5, 0.0, 0.0, 0.0, 0.3, 0.0]))


def test_noise_is_at_spams_distance_from_the_expert_and_seeded():
  distance = np.sqrt(0.2 ** 2 + 0.1 ** 2 + 0.8 ** 2)  # ||RECONSTRUCTION - EXPERT||
  a, b, c = start("noise", seed=1), start("noise", seed=1), start("noise", seed=2)
  assert np.linalg.norm(a - EXPERT) == pytest.approx(distance, rel=1e-6)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert np.count_nonzero(a) == 6  # a perturbation, not a sparsifier


def test_genome_methods_read_their_genome_unit():
  for method, vector in GENOME.items():
    np.testing.assert_array_equal(start(method), vector)
    assert start_points.reads(method) == "genome"
  assert start_points.reads("spam") == "autoencoder" and start_points.reads("scratch") is None


def test_zoo_mean_reads_the_zoo_not_an_autoencoder():
  np.testing.assert_array_equal(start("zoo_mean"), ZOO_MEAN)
  assert start_points.reads("zoo_mean") == "zoo"


def test_every_method_keeps_the_layout_and_unknown_ones_are_refused():
  for method in start_points.METHODS:
    vector = start(method)
    assert vector is None or (vector.shape == EXPERT.shape and vector.dtype == np.float32), method
  with pytest.raises(ValueError, match="unknown start-point method"):
    start("magic")
