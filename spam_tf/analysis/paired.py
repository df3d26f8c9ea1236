"""Paired comparisons of two start points over the same seeds, valid at 10-20 seeds.

Two methods run with the same seeds (the same initialisation and env seeds), so each
seed gives one difference d_i = x_i - y_i. "No difference" means the two methods'
results are exchangeable within a seed: then each d_i is as likely to be +|d_i| as
-|d_i|, and the sign-flip permutation test is exact whatever the distribution of the
differences (skewed, integer-valued, tied, capped at the budget + 1):

  test        p = P(|mean(s * d)| >= |mean(d)|) over sign vectors s, every one of the
              2^n when n <= EXACT_SEEDS, else DRAWS seeded random ones with the
              observed signs counted in ((1 + hits) / (1 + DRAWS)): valid either way;
  family      only the primary comparisons an experiment declares before its run carry
              verdicts: Holm's step-down correction over that small family keeps the
              chance of any false "faster" or "slower" among them at 5% (`judge`);
  interval    of a primary comparison: the shifts delta for which the Holm-adjusted
              test of d - delta (the family's other p-values held) does not reject, so
              it excludes 0 exactly when the verdict is "faster" or "slower"
              (`adjusted_interval`); of an exploratory one: the 95% inverted test, with
              its raw p-value and no verdict word (`compare`);
  detectable  beside a primary "no difference", the smallest shift the test would have
              found with probability POWER at that number of seeds and family size
              (`detectable_shift`: the observed differences' spread, moved by a
              constant, tested at level ALPHA / family size).
With n seeds the smallest p-value is 2 / 2^n: 3 seeds can never carry a verdict.
"""
import itertools

import numpy as np

ALPHA = 0.05
POWER = 0.8
EXACT_SEEDS = 14   # 2^14 sign vectors; beyond, DRAWS random ones
DRAWS = 20000
POWER_DRAWS = 4000  # sign vectors per simulated dataset when estimating power beyond EXACT_SEEDS
POWER_DATASETS = 400
METHOD_LINE = ("a two-sided sign-flip permutation test on the per-seed differences (exact up to "
               f"{EXACT_SEEDS} seeds, else {DRAWS:,} seeded sign flips; its null: the two starts are "
               "exchangeable within a seed). Verdicts only for the primary comparisons each experiment "
               "declared before its run, Holm-corrected over that family at 5%, with intervals of the "
               "Holm-adjusted test (an interval excludes 0 exactly when the verdict is faster or slower) and, "
               f"beside a \"no difference\", the smallest shift the test would have found with {POWER:.0%} "
               "probability. Every other comparison is exploratory: mean, unadjusted 95% interval and raw p, "
               "no verdict")


def sign_vectors(n, seed=0, draws=DRAWS):
  """The sign vectors [k, n] (+1/-1) the test averages over: all 2^n for n <= EXACT_SEEDS,
  else the observed signs (all +1) and `draws` seeded random ones."""
  if n <= EXACT_SEEDS:
    return np.array(list(itertools.product((1.0, -1.0), repeat=n)))
  random = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, n))
  return np.vstack([np.ones((1, n)), random])


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


def _accepted_range(d, accepts, steps=50):
  """(low, high) of the shifts `accepts(shift [...]) -> bools [...]` holds for, by bisection
  between the mean (accepted unless the test can reject everything) and a shift beyond
  every difference; +-inf where even that one is accepted. d: [..., n]."""
  centre = d.mean(axis=-1)
  spread = np.abs(d - centre[..., None]).max(axis=-1) + 1.0
  bounds = []
  for direction in (-1.0, 1.0):
    inside, outside = centre.copy(), centre + direction * spread
    unbounded = accepts(outside)
    for _ in range(steps):
      middle = (inside + outside) / 2
      accepted = accepts(middle)
      inside, outside = np.where(accepted, middle, inside), np.where(accepted, outside, middle)
    bounds.append(np.where(unbounded, direction * np.inf, inside))
  return bounds[0], bounds[1]


def interval(differences, signs=None, alpha=ALPHA, steps=50):
  """(low, high): the shifts the test at level alpha accepts (the inverted test, 95%
  coverage by construction). Below 6 seeds the test accepts every shift (its smallest
  p-value, 2 / 2^n, is above 5%): the interval is unbounded, (-inf, inf).
  differences: [..., n] -> two arrays [...]."""
  d = np.asarray(differences, np.float64)
  signs = sign_vectors(d.shape[-1]) if signs is None else signs
  return _accepted_range(d, lambda shift: p_values(d, shift, signs) > alpha, steps)


def adjusted_interval(differences, other_p_values, signs=None, alpha=ALPHA, steps=50):
  """(low, high) of one comparison of a Holm family: the shifts delta at which the
  Holm-adjusted p-value of (differences - delta), the family's other raw p-values held,
  stays above alpha. It excludes 0 exactly when judge's verdict is a difference.
  differences: [n]; other_p_values: [m - 1] -> (float, float)."""
  d = np.asarray(differences, np.float64)
  signs = sign_vectors(len(d)) if signs is None else signs
  others = np.asarray(other_p_values, np.float64)

  def accepts(shift):
    p = p_values(d, shift, signs)
    return holm(np.concatenate([[p], others]))[0] > alpha

  low, high = _accepted_range(d, lambda shift: np.array(accepts(float(shift))), steps)
  return float(low), float(high)


def compare(x, y, seed=0, label="a comparison"):
  """x vs y, aligned by seed ([n] each): {"mean": mean of x - y, "low", "high": its 95%
  interval (unadjusted), "p": the test's raw p-value, "differences": x - y}. Raises
  ValueError (one line naming `label`) for unequal lengths, a scalar, or a NaN."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.ndim != 1 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
    raise ValueError(f"{label}: paired scores must be one per seed on both sides, got shapes "
                     f"{x.shape} and {y.shape}")
  if not (np.isfinite(x).all() and np.isfinite(y).all()):
    raise ValueError(f"{label}: a score is NaN or infinite (seeds {np.flatnonzero(~np.isfinite(x - y)).tolist()})")
  d = x - y
  signs = sign_vectors(len(d), seed)
  low, high = interval(d, signs)
  return {"mean": float(d.mean()), "low": float(low), "high": float(high),
          "p": float(p_values(d, 0.0, signs)), "differences": d}


def holm(p_values_):
  """Holm's step-down adjusted p-values: [m] -> [m] (each >= its raw p-value, at most 1)."""
  p = np.asarray(p_values_, np.float64)
  order = np.argsort(p, kind="stable")
  scaled = (len(p) - np.arange(len(p))) * p[order]
  adjusted = np.empty_like(p)
  adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
  return adjusted


def power(differences, shift, level, signs=None, datasets=POWER_DATASETS, seed=0):
  """The probability that the sign-flip test at `level` rejects when the differences have
  the spread of `differences` around a location `shift`: seeded bootstrap datasets of the
  centred differences (scaled by sqrt(n / (n - 1)), so their variance is the sample's),
  moved by `shift`. differences: [n]; shift: scalar or [k] -> [k] or scalar."""
  d = np.asarray(differences, np.float64)
  n = len(d)
  signs = sign_vectors(n, seed, POWER_DRAWS) if signs is None else signs
  centred = (d - d.mean()) * np.sqrt(n / (n - 1))
  samples = centred[np.random.default_rng(seed).integers(0, n, size=(datasets, n))]  # [datasets, n]
  shifts = np.atleast_1d(np.asarray(shift, np.float64))
  rates = np.array([np.mean(p_values(samples + s, 0.0, signs) < level) for s in shifts])
  return rates if np.ndim(shift) else float(rates[0])


def detectable_shift(differences, family_size, alpha=ALPHA, target=POWER, seed=0, steps=20):
  """The smallest shift |delta|, in the differences' units, that the sign-flip test at
  level alpha / family_size (Holm's strictest step: what every verdict of the family may
  need) finds with probability >= target, in both directions, assuming the differences
  keep their observed spread and move by a constant (power()). 0.0 when they have no
  spread (every seed moved by any shift is found), inf when the test cannot reject at
  that level with this many seeds. differences: [n] -> float."""
  d = np.asarray(differences, np.float64)
  n, level = len(d), alpha / family_size
  signs = sign_vectors(n, seed, POWER_DRAWS)
  if n < 2 or np.mean(p_values(np.ones((1, n)), 0.0, signs) < level) < 1:
    return float("inf")  # all seeds agreeing is the strongest evidence there is, and it is not enough
  spread = float(np.abs(d - d.mean()).max())
  if spread == 0:
    return 0.0
  found = []
  for direction in (1.0, -1.0):
    low, high = 0.0, spread
    while power(d, direction * high, level, signs, seed=seed) < target:
      low, high = high, 2 * high
    for _ in range(steps):
      middle = (low + high) / 2
      low, high = (low, middle) if power(d, direction * middle, level, signs, seed=seed) >= target else (middle, high)
    found.append(high)
  return float(max(found))


def verdict(mean, adjusted_p, lower_is_better, alpha=ALPHA):
  """'better', 'worse' or 'no difference' for a comparison of (method - reference)."""
  if not adjusted_p < alpha or mean == 0:
    return "no difference"
  return "better" if (mean < 0) == lower_is_better else "worse"


def judge(comparisons, detectable=True):
  """Holm over one family of primary comparisons: {key: compare(...)} -> the same dicts
  (in place, and returned) with "p_adjusted", "verdict", the interval of the adjusted
  test in "low"/"high" ("adjusted": True) and, for "no difference", "detectable" (the
  smallest shift detectable_shift finds in this family, unless `detectable` is False). A
  comparison is of (method -
  reference), lower is better unless its dict says "lower_is_better": False."""
  keys = list(comparisons)
  raw = np.array([comparisons[k]["p"] for k in keys])
  for index, (key, adjusted) in enumerate(zip(keys, holm(raw))):
    c = comparisons[key]
    c["p_adjusted"] = float(adjusted)
    c["verdict"] = verdict(c["mean"], adjusted, c.get("lower_is_better", True))
    c["low"], c["high"] = adjusted_interval(c["differences"], np.delete(raw, index))
    c["adjusted"] = True
    if detectable and c["verdict"] == "no difference":
      c["detectable"] = detectable_shift(c["differences"], len(keys))
  return comparisons


def text(comparison, digits=1):
  """'-2.5 [-4.4, -0.7]' (the mean difference and its interval; no '-0.0')."""
  mean, low, high = (round(comparison[k], digits) + 0.0 for k in ("mean", "low", "high"))
  if not np.isfinite(low) or not np.isfinite(high):
    return f"{mean:+.{digits}f} [unbounded: too few seeds]"
  return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def exploratory_text(comparison, digits=1):
  """'-2.5 [-4.4, -0.7], p = 0.012': an exploratory comparison, no verdict word."""
  return f"{text(comparison, digits)}, p = {comparison['p']:.2g}"


def detectable_text(comparison, digits=1):
  """What a primary "no difference" could have found: 'would have found >= 6.2'."""
  shift = comparison.get("detectable")
  if shift is None:
    return ""
  if not np.isfinite(shift):
    return "too few seeds to find any shift"
  return "would have found any shift" if shift == 0 else f"would have found ≥ {shift:.{digits}f}"
