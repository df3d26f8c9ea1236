"""spam_tf.analysis.statistics on tiny inputs with hand-computed answers."""
import numpy as np
import pytest

from spam_tf.analysis import statistics as st
from spam_tf.rl import curves

CURVES = np.array([[0, 5, 10, 10],    # reaches the maximum 10 at iteration 2
                   [0, 0, 4, 8],      # never: budget (3 iterations) + 1 = 4
                   [10, 10, 10, 10]])  # already at iteration 0


def test_iterations_to_max_counts_never_as_budget_plus_one():
  assert st.iterations_to_max(CURVES, 10).tolist() == [2, 4, 0]


def test_normalized_auc_and_final_return():
  np.testing.assert_allclose(st.normalized_auc(CURVES, 10), [25 / 40, 12 / 40, 1.0])
  np.testing.assert_allclose(st.final_return(CURVES, window=2), [10, 6, 10])


def test_the_papers_criterion_uses_the_mean_curve():
  # mean curve: [10/3, 5, 8, 28/3]: never 10; reaches 8 at iteration 2.
  assert curves.iterations_to_convergence(range(4), CURVES, 10) is None
  assert curves.iterations_to_convergence(range(4), CURVES, 8) == 2


def test_iqm_of_a_constant_is_exact_and_its_interval_has_no_width():
  assert st.iqm_interval([3.0] * 8) == (3.0, 3.0, 3.0)


def test_iqm_trims_a_quarter_each_side():
  # 8 seeds: the middle four of [0, 1, 2, 3, 4, 5, 6, 100] are 2..5 -> 3.5
  iqm, low, high = st.iqm_interval([100, 0, 1, 2, 3, 4, 5, 6])
  assert iqm == 3.5 and low <= iqm <= high


def test_probability_of_improvement_exact_cases():
  assert st.probability_of_improvement([2, 3], [0, 1])[0] == 1.0
  assert st.probability_of_improvement([0, 1], [2, 3])[0] == 0.0
  assert st.probability_of_improvement([1, 2], [1, 2])[0] == 0.5  # identical: ties
  # pairs (x > y): 3>1, 3>2, 1=1 (half), 1<2 -> (1 + 1 + 0.5) / 4
  assert st.probability_of_improvement([3, 1], [1, 2])[0] == pytest.approx(0.625)


def test_paired_difference_mean_and_a_constant_shift():
  mean, low, high = st.paired_difference([5, 7, 9], [4, 6, 8])
  assert (mean, low, high) == (1.0, 1.0, 1.0)
  mean, low, high = st.paired_difference([1, 2, 3, 10], [1, 2, 3, 2], reps=500, seed=1)
  assert mean == 2.0 and low == 0.0 and 2.0 < high <= 8.0


@pytest.mark.parametrize("low,high,lower_is_better,expected", [
    (-5, -1, True, "better"), (1, 5, True, "worse"), (-1, 2, True, "no difference"),
    (1, 5, False, "better"), (-5, -1, False, "worse"), (0, 0, False, "no difference")])
def test_verdict_from_an_interval(low, high, lower_is_better, expected):
  assert st.verdict(low, high, lower_is_better) == expected


def test_reconstruction_breakdown():
  expert = np.array([-1.0, -2.0, 0.5, 0.25, 1.0, 2.0], np.float32)
  reconstruction = np.array([0.0, 0.1, 0.5, 0.0, 1.005, 1.5], np.float32)
  assert st.reconstruction_breakdown(expert, reconstruction) == {  # 1.005 is within 1% of 1.0
      "negative_zeroed": 0.5, "positive_copied": 0.5, "positive_zeroed": 0.25}


def test_mean_band_of_identical_seeds_has_no_width_and_brackets_the_mean():
  mean, low, high = st.mean_band([[1, 2, 3], [1, 2, 3]])
  assert mean.tolist() == low.tolist() == high.tolist() == [1, 2, 3]
  mean, low, high = st.mean_band(CURVES, reps=500)
  np.testing.assert_allclose(mean, CURVES.mean(axis=0))
  assert np.all(low <= mean) and np.all(mean <= high) and np.all(low >= 0) and np.all(high <= 10)


def test_reached_by_profile_counts_seeds_at_the_maximum_by_each_iteration():
  profile = st.reached_by_profile({"a": [2, 4, 0], "b": [1, 1, 1]}, budget=3, reps=200)
  fraction, low, high = profile["a"]
  np.testing.assert_allclose(fraction, [1 / 3, 1 / 3, 2 / 3, 2 / 3])  # 4 = never within 3
  np.testing.assert_allclose(profile["b"][0], [0, 1, 1, 1])
  assert np.all(low <= fraction) and np.all(fraction <= high)
