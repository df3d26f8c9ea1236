"""The report's statistics: small pure functions over per-seed scores.

Curves are eval returns [seeds, iterations + 1] (column 0 is the start point,
before any training); scores are [seeds]. Interval estimates use rliable
(stratified bootstrap, percentile 95% intervals) with numpy's generator seeded for
the call, so a report recomputed from the same results has the same numbers.
"""
import numpy as np

BOOTSTRAP_REPS = 2000
CONFIDENCE = 0.95


def iterations_to_max(eval_returns, maximum):
  """First iteration whose return reaches `maximum`, per seed: [seeds] ints.

  eval_returns: [seeds, iterations + 1]. A seed that never reaches it counts as
  iterations + 1 (the budget + 1).
  """
  returns = np.asarray(eval_returns, np.float64)
  reached = returns >= maximum
  return np.where(reached.any(axis=1), reached.argmax(axis=1), returns.shape[1]).astype(int)


def normalize(returns, criterion, floor=0.0):
  """(returns - floor) / (criterion - floor), elementwise: 0 at the floor (a random
  policy's mean return), 1 at the criterion, higher is better whatever the rewards' sign."""
  return (np.asarray(returns, np.float64) - floor) / (criterion - floor)


def normalized_auc(eval_returns, criterion, floor=0.0):
  """Mean normalised return over the iterations (normalize): [seeds].
  eval_returns: [seeds, iterations + 1]."""
  return normalize(eval_returns, criterion, floor).mean(axis=1)


def final_return(eval_returns, window=10):
  """Mean return of the last `window` iterations: [seeds]. eval_returns: [seeds, iterations + 1]."""
  return np.asarray(eval_returns, np.float64)[:, -window:].mean(axis=1)


def mean_or_none(values):
  """Mean of the values that are not None, or None when there are none."""
  values = [v for v in values if v is not None]
  return float(np.mean(values)) if values else None


def _rliable():
  from rliable import library, metrics  # pylint: disable=import-outside-toplevel  (slow import)
  return library, metrics


def _interval_estimates(library, scores, func, reps, seed):
  """rliable's get_interval_estimates, reproducibly: rliable 1.2.0 draws its bootstrap
  indices from numpy's global generator (np.random.choice) whatever random_state says,
  so that generator is seeded for the call and restored after it."""
  state = np.random.get_state()
  np.random.seed(seed)
  try:
    return library.get_interval_estimates(scores, func, reps=reps,
                                          confidence_interval_size=CONFIDENCE)
  finally:
    np.random.set_state(state)


def iqm_interval(scores, reps=BOOTSTRAP_REPS, seed=0):
  """Interquartile mean of [seeds] scores with its stratified-bootstrap 95% interval:
  (iqm, low, high)."""
  library, metrics = _rliable()
  point, interval = _interval_estimates(
      library, {"x": np.asarray(scores, np.float64)[:, None]},
      lambda x: np.array([metrics.aggregate_iqm(x)]), reps, seed)
  return float(point["x"][0]), float(interval["x"][0, 0]), float(interval["x"][1, 0])


def probability_of_improvement(x, y, reps=BOOTSTRAP_REPS, seed=0):
  """P(X > Y) for one run of each (ties count half; rliable, Mann-Whitney U) with its
  bootstrap 95% interval: (p, low, high). x: [seeds_x], y: [seeds_y], higher is better
  (pass negated scores when lower is better)."""
  library, metrics = _rliable()
  point, interval = _interval_estimates(
      library, {"p": (np.asarray(x, np.float64)[:, None], np.asarray(y, np.float64)[:, None])},
      lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps, seed)
  return float(point["p"][0]), float(interval["p"][0, 0]), float(interval["p"][1, 0])


def reconstruction_breakdown(expert, reconstruction, rtol=0.01):
  """What the autoencoder did to each weight of one layer (or the whole vector).

  expert, reconstruction: [n]. Returns fractions of the expert's negative weights
  that came back exactly 0, of its positive weights that came back copied (within
  rtol of their value), and of its positive weights that came back exactly 0.
  """
  expert = np.asarray(expert, np.float32)
  reconstruction = np.asarray(reconstruction, np.float32)
  negative, positive = expert < 0, expert > 0

  def share(selected, condition):
    return float(condition[selected].mean()) if selected.any() else None

  return {"negative_zeroed": share(negative, reconstruction == 0),
          "positive_copied": share(positive, np.abs(reconstruction - expert) <= rtol * np.abs(expert)),
          "positive_zeroed": share(positive, reconstruction == 0)}


def mean_band(curves, reps=BOOTSTRAP_REPS, seed=0):
  """Mean curve over seeds with a percentile-bootstrap 95% band (seeds resampled):
  curves [seeds, T] -> (mean [T], low [T], high [T])."""
  curves = np.asarray(curves, np.float64)
  rng = np.random.RandomState(seed)
  draws = curves[rng.randint(0, len(curves), size=(reps, len(curves)))].mean(axis=1)  # [reps, T]
  tail = (1 - CONFIDENCE) / 2 * 100
  low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
  return curves.mean(axis=0), low, high


def reached_by_profile(iterations, budget, reps=BOOTSTRAP_REPS, seed=0):
  """Performance profile of iterations to the maximum: the fraction of seeds that have
  reached it by iteration tau, for tau = 0..budget, with rliable's stratified-bootstrap
  95% band. iterations: {method: [seeds]} -> {method: (fraction [budget + 1], low, high)}."""
  library, _ = _rliable()
  taus = np.arange(budget + 1)
  # rliable counts runs with score > tau: score = -iterations, threshold = -(tau + 0.5).
  scores = {m: -np.asarray(v, np.float64)[:, None] for m, v in iterations.items()}
  profiles, bands = _interval_estimates(  # = create_performance_profile, seeded
      library, scores, lambda x: library.score_distributions(x, -(taus + 0.5)), reps, seed)
  return {m: (profiles[m], bands[m][0], bands[m][1]) for m in iterations}


def threshold(curves, criterion, window=10):
  """(the return a comparison counts iterations to, or None; whether it is the fallback):
  the criterion, unless fewer than half of the runs reach it; then the median over the
  runs of their mean return over the last `window` iterations, or None where that is no
  higher than the runs' median start return (every start would "reach" it at once).
  curves: [runs, iterations + 1] raw greedy returns, every run of every arm the
  comparisons read pooled, so the threshold is the same whichever arm a run belongs to
  (the sign-flip test's exchangeability needs that)."""
  curves = np.asarray(curves, np.float64)
  if (curves >= criterion).any(axis=1).mean() >= 0.5:
    return float(criterion), False
  fallback = float(np.median(curves[:, -window:].mean(axis=1)))
  return (fallback if fallback > np.median(curves[:, 0]) else None), True
