"""Paired comparisons of two start points over the same seeds, valid at 10-20 seeds.

Two methods run with the same seeds (the same initialisation and env seeds), so each
seed gives one difference d_i = x_i - y_i. "No difference" means the two methods'
results are exchangeable within a seed: then each d_i is as likely to be +|d_i| as
-|d_i|, and the sign-flip permutation test is exact whatever the distribution of the
differences (skewed, integer-valued, tied, capped at the budget + 1):

  test      p = P(|mean(s * d)| >= |mean(d)|) over sign vectors s, every one of the
            2^n when n <= EXACT_SEEDS, else DRAWS seeded random ones with the
            observed signs counted in ((1 + hits) / (1 + DRAWS)): valid either way;
  interval  the shifts delta that the test at level 5% does not reject for d - delta
            (the inverted test: the differences' location, 95% coverage by
            construction, checked by simulation in tests/test_statistics.py);
  family    Holm's step-down correction over every comparison one experiment's
            verdicts make, so that the chance of any false "better" or "worse" among
            them stays at 5%.
A verdict is "better" or "worse" only where the Holm-adjusted p-value is below 5%.
With n seeds the smallest p-value is 2 / 2^n: 3 seeds can never carry a verdict.
"""
import itertools

import numpy as np

ALPHA = 0.05
EXACT_SEEDS = 14   # 2^14 sign vectors; beyond, DRAWS random ones
DRAWS = 20000
METHOD_LINE = ("a two-sided sign-flip permutation test on the per-seed differences (exact up to "
               f"{EXACT_SEEDS} seeds, else {DRAWS:,} seeded sign flips), verdicts Holm-corrected over "
               "each experiment's comparisons at 5% (its null: the two starts are exchangeable within "
               "a seed); intervals: the 95% inverted sign-flip test, not corrected")


def sign_vectors(n, seed=0):
  """The sign vectors [k, n] (+1/-1) the test averages over: all 2^n for n <= EXACT_SEEDS,
  else the observed signs (all +1) and DRAWS seeded random ones."""
  if n <= EXACT_SEEDS:
    return np.array(list(itertools.product((1.0, -1.0), repeat=n)))
  draws = np.random.default_rng(seed).choice((1.0, -1.0), size=(DRAWS, n))
  return np.vstack([np.ones((1, n)), draws])


def p_values(differences, shift=0.0, signs=None):
  """Two-sided sign-flip p-values of H0: the differences minus `shift` are symmetric about 0.

  differences: [..., n]; shift: scalar or [...]; signs: sign_vectors(n) (computed if
  None). Returns [...] p-values in (0, 1].
  """
  d = np.asarray(differences, np.float64) - np.asarray(shift, np.float64)[..., None]
  signs = sign_vectors(d.shape[-1]) if signs is None else signs
  observed = np.abs(d.mean(axis=-1))
  flipped = np.abs(d @ signs.T / d.shape[-1])  # [..., k]
  # A relative tolerance: sums of the same numbers in another order may differ in the last bit.
  hits = flipped >= observed[..., None] * (1 - 1e-9) - 1e-12
  return hits.mean(axis=-1)


def interval(differences, signs=None, alpha=ALPHA, steps=50):
  """(low, high): the shifts the test at level alpha accepts, by bisection between the mean
  (always accepted) and a shift beyond every difference. Below 6 seeds the test accepts
  every shift (its smallest p-value, 2 / 2^n, is above 5%): the interval is unbounded,
  (-inf, inf). differences: [..., n] -> two arrays [...]."""
  d = np.asarray(differences, np.float64)
  signs = sign_vectors(d.shape[-1]) if signs is None else signs
  centre = d.mean(axis=-1)
  spread = np.abs(d - centre[..., None]).max(axis=-1) + 1.0
  bounds = []
  for direction in (-1.0, 1.0):
    inside, outside = centre.copy(), centre + direction * spread
    unbounded = p_values(d, outside, signs) > alpha
    for _ in range(steps):
      middle = (inside + outside) / 2
      accepted = p_values(d, middle, signs) > alpha
      inside, outside = np.where(accepted, middle, inside), np.where(accepted, outside, middle)
    bounds.append(np.where(unbounded, direction * np.inf, inside))
  return bounds[0], bounds[1]


def compare(x, y, seed=0):
  """x vs y, aligned by seed ([n] each): {"mean": mean of x - y, "low", "high": its 95%
  interval, "p": the test's p-value}."""
  d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
  signs = sign_vectors(len(d), seed)
  low, high = interval(d, signs)
  return {"mean": float(d.mean()), "low": float(low), "high": float(high),
          "p": float(p_values(d, 0.0, signs))}


def holm(p_values_):
  """Holm's step-down adjusted p-values: [m] -> [m] (each >= its raw p-value, at most 1)."""
  p = np.asarray(p_values_, np.float64)
  order = np.argsort(p, kind="stable")
  scaled = (len(p) - np.arange(len(p))) * p[order]
  adjusted = np.empty_like(p)
  adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
  return adjusted


def verdict(mean, adjusted_p, lower_is_better, alpha=ALPHA):
  """'better', 'worse' or 'no difference' for a comparison of (method - reference)."""
  if not adjusted_p < alpha or mean == 0:
    return "no difference"
  return "better" if (mean < 0) == lower_is_better else "worse"


def judge(comparisons):
  """Holm over one family: {key: compare(...)} -> the same dicts with "p_adjusted" and
  "verdict" added (in place, and returned). A comparison is of (method - reference),
  lower is better unless its dict says "lower_is_better": False."""
  keys = list(comparisons)
  for key, adjusted in zip(keys, holm([comparisons[k]["p"] for k in keys])):
    comparisons[key]["p_adjusted"] = float(adjusted)
    comparisons[key]["verdict"] = verdict(comparisons[key]["mean"], adjusted,
                                          comparisons[key].get("lower_is_better", True))
  return comparisons


def text(comparison, digits=1):
  """'-2.5 [-4.4, -0.7]' (the mean difference and its 95% interval; no '-0.0')."""
  mean, low, high = (round(comparison[k], digits) + 0.0 for k in ("mean", "low", "high"))
  if not np.isfinite(low) or not np.isfinite(high):
    return f"{mean:+.{digits}f} [unbounded: too few seeds]"
  return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"
