"""spam_tf.analysis.statistics on tiny inputs with hand-computed answers."""
import numpy as np
import pytest

from spam_tf.analysis import paired
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


# --- paired comparisons: the sign-flip test, its interval, Holm ---------------------

def test_sign_flip_p_value_by_hand():
  # d = [1, 2, 3]: |mean| = 2; of the 8 sign vectors only +++ and --- reach |mean| >= 2.
  assert paired.p_values([1.0, 2.0, 3.0]) == 2 / 8
  # d = [1, -1, 2]: |mean| = 2/3; sums of +-1 +-1 +-2 with |sum| >= 2: all but the 2 with sum 0.
  assert paired.p_values([1.0, -1.0, 2.0]) == 6 / 8
  assert paired.p_values([0.0, 0.0, 0.0]) == 1.0  # no difference at all


def test_holm_by_hand():
  # sorted 0.01, 0.02, 0.04 -> x3, x2, x1 = 0.03, 0.04, 0.04 (kept monotone), in input order.
  np.testing.assert_allclose(paired.holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
  np.testing.assert_allclose(paired.holm([0.5, 0.6]), [1.0, 1.0])


def test_verdicts_follow_the_adjusted_p_value_and_the_sign():
  family = paired.judge({"a": {"mean": -2.0, "p": 0.001}, "b": {"mean": 3.0, "p": 0.01}})
  assert [family[k]["verdict"] for k in "ab"] == ["better", "worse"]  # adjusted 0.002, 0.01
  # Each below 5% alone, none after Holm: 0.03 x 3 = 0.09 bounds them all.
  family = paired.judge({"a": {"mean": -2.0, "p": 0.03}, "b": {"mean": 3.0, "p": 0.04},
                         "c": {"mean": -1.0, "p": 0.045}})
  assert all(row["verdict"] == "no difference" and row["p_adjusted"] == pytest.approx(0.09)
             for row in family.values())
  assert paired.verdict(-1.0, 0.04, lower_is_better=False) == "worse"


def test_the_interval_of_a_constant_shift_is_that_shift():
  result = paired.compare([5, 7, 9, 6, 8, 10], [4, 6, 8, 5, 7, 9])
  assert result["mean"] == 1.0 and result["low"] == pytest.approx(1.0) and result["high"] == pytest.approx(1.0)
  assert result["p"] == 2 / 64  # all six differences positive: only +...+ and -...- reach |mean| = 1


def test_below_six_seeds_the_interval_is_unbounded():
  """2 / 2^5 = 6.25% > 5%: no shift can be rejected, so no finite interval is honest."""
  result = paired.compare([3, 5, 4], [0, 0, 0])
  assert result["p"] == 2 / 8 and result["low"] == -np.inf and result["high"] == np.inf
  assert paired.text(result) == "+4.0 [unbounded: too few seeds]"
  assert np.isfinite(paired.compare([3, 5, 4, 6, 5, 4], [0] * 6)["low"])  # 6 seeds: 2/64 < 5%


SEEDS = 10
DATASETS = 4000
MC_LIMIT = 0.05 + 3 * np.sqrt(0.05 * 0.95 / DATASETS)  # 5% plus three Monte-Carlo standard errors


def no_difference(kind, rng, shift=0.0):
  """[DATASETS, SEEDS] paired differences x - y - shift of two exchangeable methods: each
  seed's outcome is a seed effect plus the method's own noise, drawn alike for both."""
  size = (DATASETS, SEEDS)
  if kind == "normal":
    return rng.normal(size=size) - rng.normal(size=size) + shift
  if kind == "skewed":  # each method's noise lognormal: long right tails
    return rng.lognormal(size=size) - rng.lognormal(size=size) + shift
  # Iterations to the maximum: integers, capped at the budget + 1 = 31, many ties.
  seed_effect = rng.integers(15, 30, size=(DATASETS, 1))
  x = np.minimum(31, seed_effect + rng.geometric(0.15, size=size))
  y = np.minimum(31, seed_effect + rng.geometric(0.15, size=size))
  return (x - y).astype(np.float64)


def percentile_bootstrap_rejects(differences, reps=1000, seed=0):
  """The verdict the report used before (spam_tf's paired_difference up to issue 20): a 95%
  percentile bootstrap interval of the mean over seeds that excludes 0. [N, n] -> [N] bools."""
  rng = np.random.RandomState(seed)
  rejects = []
  for d in differences:
    means = d[rng.randint(0, len(d), size=(reps, len(d)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    rejects.append(not low <= 0 <= high)
  return np.array(rejects)


@pytest.mark.parametrize("kind", ["normal", "skewed", "integer"])
def test_no_difference_gives_a_verdict_in_at_most_5_percent_of_datasets(kind):
  d = no_difference(kind, np.random.default_rng(1))
  signs = paired.sign_vectors(SEEDS)
  rate = np.mean(paired.p_values(d, 0.0, signs) < paired.ALPHA)
  assert rate <= MC_LIMIT, rate


def test_holm_keeps_a_family_of_six_null_comparisons_at_5_percent():
  rng = np.random.default_rng(2)
  signs = paired.sign_vectors(SEEDS)
  p = np.stack([paired.p_values(no_difference("normal", rng), 0.0, signs) for _ in range(6)], axis=1)
  any_verdict = np.mean([(paired.holm(row) < paired.ALPHA).any() for row in p])
  assert any_verdict <= MC_LIMIT, any_verdict


@pytest.mark.parametrize("kind,shift", [("normal", 0.7), ("skewed", -1.3), ("integer", 0.0)])
def test_intervals_cover_the_true_difference_in_at_least_94_percent(kind, shift):
  d = no_difference(kind, np.random.default_rng(3), shift)
  low, high = paired.interval(d, paired.sign_vectors(SEEDS))
  coverage = np.mean((low <= shift) & (shift <= high))
  assert coverage >= 0.94, coverage


def test_the_monte_carlo_test_beyond_14_seeds_keeps_its_level():
  """20 seeds (the paper sweep): 20,000 random sign vectors instead of all 2^20."""
  d = np.random.default_rng(5).normal(size=(1000, 20)) - np.random.default_rng(6).normal(size=(1000, 20))
  signs = paired.sign_vectors(20)
  assert signs.shape == (paired.DRAWS + 1, 20) and (signs[0] == 1).all()
  rate = np.mean(paired.p_values(d, 0.0, signs) < paired.ALPHA)
  assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1000), rate


def test_a_real_difference_of_one_standard_deviation_is_found_4_times_in_5():
  rng = np.random.default_rng(4)
  d = no_difference("normal", rng, shift=np.sqrt(2))  # the differences' sd is sqrt(2)
  power = np.mean(paired.p_values(d, 0.0, paired.sign_vectors(SEEDS)) < paired.ALPHA)
  assert power >= 0.75, power


def test_the_simulation_catches_the_percentile_bootstrap_that_it_replaced():
  """The same check fails the old verdict: at 10 seeds its 95% interval excludes 0 in about
  10% of datasets with no difference (here 1,000 of them, normal differences)."""
  d = no_difference("normal", np.random.default_rng(1))[:1000]
  rate = np.mean(percentile_bootstrap_rejects(d))
  assert rate > 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1000), rate


if __name__ == "__main__":  # the table in WORKSPACE.md ("How verdicts are made")
  rng = np.random.default_rng(1)
  signs = paired.sign_vectors(SEEDS)
  print(f"{'no difference':26s} {'sign-flip':>10s} {'percentile bootstrap (2,000 datasets)':>40s}")
  for kind in ("normal", "skewed", "integer"):
    d = no_difference(kind, np.random.default_rng(1))
    print(f"{kind:26s} {np.mean(paired.p_values(d, 0.0, signs) < 0.05):10.3f} "
          f"{np.mean(percentile_bootstrap_rejects(d[:2000])):40.3f}")
  centred = np.random.default_rng(1).lognormal(size=(DATASETS, SEEDS)) - np.exp(0.5)
  print(f"{'centred lognormal':26s} {np.mean(paired.p_values(centred, 0.0, signs) < 0.05):10.3f} "
        f"{np.mean(percentile_bootstrap_rejects(centred[:2000])):40.3f}")
  for kind, shift in (("normal", 0.7), ("skewed", -1.3)):
    low, high = paired.interval(no_difference(kind, np.random.default_rng(3), shift), signs)
    print(f"coverage {kind} (shift {shift}): {np.mean((low <= shift) & (shift <= high)):.3f}")
  for effect in (0.5, 1.0):
    d = no_difference("normal", np.random.default_rng(4), shift=effect * np.sqrt(2))
    print(f"power at {effect} sd: {np.mean(paired.p_values(d, 0.0, signs) < 0.05):.3f}")
  for n in (10, 20):
    print(f"{n} seeds: smallest p {2 / 2 ** n if n <= paired.EXACT_SEEDS else 1 / (1 + paired.DRAWS):.2g}")
