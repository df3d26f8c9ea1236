"""Each start-point method is what it claims, on tiny inputs with hand-computed answers."""
import os

import numpy as np
import pytest

from spam_tf import files
from spam_tf.spam import genome
from spam_tf.spam import start_points

EXPERT = np.array([0.5, -0.2, 0.1, -0.8, 0.3, 0.0], np.float32)
RECONSTRUCTION = np.array([0.5, 0.0, 0.0, 0.0, 0.3, 0.0], np.float32)  # 4 zeros of 6


def start(method, activation="relu", seed=0):
  return start_points.start_vector(method, start_points.StartInputs(
      EXPERT, seed, RECONSTRUCTION, activation,
      genome={m: EXPERT for m in genome.GENOME_METHODS}, zoo_mean=EXPERT))


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


def test_genome_starts_decode_m_stars_code_the_best_codes_mean_and_a_draw_around_it():
  # A linear decoder by hand: code c -> [2c + 1, 1, c + 1].
  def decode(codes):
    codes = np.asarray(codes, np.float64)
    return np.concatenate([2 * codes + 1, np.ones_like(codes), codes + 1], axis=1)

  class FixedDraw:  # the standard normal draw genome_sample adds, fixed at 2
    def normal(self, size):
      return np.full(size, 2.0)

  codes = np.array([[0.0], [1.0], [2.0], [3.0]])
  returns = np.array([0.0, 5.0, 9.0, 1.0])
  starts, best = genome.genome_starts(decode, codes, returns, np.array([3.0]), 0.5, FixedDraw())
  np.testing.assert_array_equal(best, [[1.0], [2.0]])  # the best half: returns 5 and 9
  np.testing.assert_array_equal(starts["genome"], [7, 1, 4])  # decode(M*'s code 3)
  np.testing.assert_array_equal(starts["genome_mean"], [4, 1, 2.5])  # decode(mean 1.5)
  np.testing.assert_array_equal(starts["genome_sample"], [6, 1, 3.5])  # decode(1.5 + 2 x std 0.5)


# A zoo of two tiny experts: 2 observations, one hidden layer of 2 units, a 2-way head.
SHAPES = [(2, 2), (2,), (2, 2), (2,)]
EXPERT_A = np.float32([1, 2, 3, 4, 0.5, -0.5, 5, 6, 7, 8, 0.1, 0.2])
# EXPERT_A with its two hidden units swapped: the same function, other weights.
EXPERT_A_SWAPPED = np.float32([2, 1, 4, 3, -0.5, 0.5, 7, 8, 5, 6, 0.1, 0.2])


def write_expert(run_dir, seed, start, final, returns):
  os.makedirs(run_dir)
  files.write_json(os.path.join(run_dir, "result.json"), {
      "seed": seed, "iterations": 3, "eval_iterations": [0, 1, 2, 3], "eval_returns": returns})
  files.write_npz(os.path.join(run_dir, "policy_weights.npz"), start=start, final=final)
  return run_dir


def test_zoo_mean_is_the_mean_of_the_zoos_best_networks(tmp_path):
  zoo = [write_expert(str(tmp_path / "a"), 1000, np.zeros(12, np.float32), EXPERT_A, [10, 50, 60, 100]),
         write_expert(str(tmp_path / "b"), 1001, np.ones(12, np.float32), 3 * EXPERT_A, [20, 50, 60, 90])]
  # 4 kept networks (two starts, two finals); the best half are the finals (100, 90).
  np.testing.assert_allclose(genome.zoo_mean(zoo, SHAPES, best_fraction=0.5, align=False), 2 * EXPERT_A)
  # With a quarter, ties aside, still the 2 best (at least 2 count).
  np.testing.assert_allclose(genome.zoo_mean(zoo, SHAPES, best_fraction=0.25, align=False), 2 * EXPERT_A)


def test_zoo_mean_averages_networks_in_one_hidden_unit_order(tmp_path):
  """Expert b is expert a with its hidden units swapped: aligned to a, the mean is a
  itself; unaligned, the two orders blur into other weights."""
  zoo = [write_expert(str(tmp_path / "a"), 1000, np.zeros(12, np.float32), EXPERT_A, [10, 50, 60, 100]),
         write_expert(str(tmp_path / "b"), 1001, np.zeros(12, np.float32), EXPERT_A_SWAPPED, [20, 50, 60, 90])]
  np.testing.assert_allclose(genome.zoo_mean(zoo, SHAPES, best_fraction=0.5, align=True), EXPERT_A)
  unaligned = genome.zoo_mean(zoo, SHAPES, best_fraction=0.5, align=False)
  np.testing.assert_allclose(unaligned[:4], [1.5, 1.5, 3.5, 3.5])


def test_every_method_keeps_the_layout_and_unknown_ones_are_refused():
  for method in start_points.METHODS:
    vector = start(method)
    assert vector is None or (vector.shape == EXPERT.shape and vector.dtype == np.float32), method
  with pytest.raises(ValueError, match="unknown start-point method"):
    start("magic")
