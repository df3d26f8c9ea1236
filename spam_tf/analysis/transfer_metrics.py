"""Taylor & Stone's transfer metrics (JMLR 2009, section 3.1), per method and seed,
against scratch on the same seeds. Returns are normalised (scores.Scale: 0 = a random
policy, 1 = the success criterion), so the metrics compare across tasks:

  jumpstart          the start point's return (iteration 0) minus scratch's
  asymptotic         the mean return of the last WINDOW iterations
  total reward       the area under the curve: mean return over iterations 0..budget
  transfer ratio     total reward / scratch's, per seed; undefined (nan) on a seed where
                     scratch's total reward is below RATIO_MIN (near the random policy,
                     the ratio is noise and can flip sign). Not tested: total reward's
                     test says whether the start is ahead.
  time to threshold  iterations to the first eval at or above the threshold: the
                     criterion; where scratch reaches it on fewer than half its seeds,
                     the fallback: the return scratch holds over its last WINDOW
                     iterations (their mean), median over seeds. A fallback no higher
                     than scratch's median start return measures nothing (every start
                     "reaches" it at once): then the metric is undefined (nan).
Verdicts: the paired sign-flip test of each defined metric but the ratio against scratch,
Holm-corrected over this table (its own family: the main table's verdicts keep theirs).
"""
import numpy as np

from spam_tf.analysis import paired
from spam_tf.analysis import statistics as st

WINDOW = 10
RATIO_MIN = 0.05
METRICS = ("jumpstart", "asymptotic", "total_reward", "transfer_ratio", "time_to_threshold")
TESTED = {"jumpstart": False, "asymptotic": False, "total_reward": False,
          "time_to_threshold": True}  # metric: lower is better


def threshold(scratch_greedy, criterion, window=WINDOW):
  """(threshold or None, fallback?): the criterion, unless scratch reaches it on fewer than
  half its seeds; then the median over seeds of scratch's mean return over the last
  `window` iterations, or None if that is no higher than scratch's median start return.
  scratch_greedy: [seeds, iterations + 1] raw returns."""
  scratch_greedy = np.asarray(scratch_greedy, np.float64)
  reached = (scratch_greedy >= criterion).any(axis=1)
  if reached.mean() >= 0.5:
    return float(criterion), False
  fallback = float(np.median(scratch_greedy[:, -window:].mean(axis=1)))
  return (fallback if fallback > np.median(scratch_greedy[:, 0]) else None), True


def per_seed(greedy, scratch_greedy, scale, time_threshold, window=WINDOW):
  """{metric: [seeds]} of METRICS (nan where undefined, see the module doc). greedy,
  scratch_greedy: [seeds, iterations + 1] raw returns, aligned by seed; scale:
  scores.Scale; time_threshold: a return, or None."""
  normalized = scale.normalize(greedy)
  scratch = scale.normalize(scratch_greedy)
  total, scratch_total = normalized.mean(axis=1), scratch.mean(axis=1)
  defined = scratch_total >= RATIO_MIN
  times = (np.full(len(total), np.nan) if time_threshold is None
           else st.iterations_to_max(greedy, time_threshold).astype(np.float64))
  return {"jumpstart": normalized[:, 0] - scratch[:, 0],
          "asymptotic": normalized[:, -window:].mean(axis=1),
          "total_reward": total,
          "transfer_ratio": np.where(defined, total / np.where(defined, scratch_total, 1.0), np.nan),
          "time_to_threshold": times}


def versus_scratch(curves, scale):
  """The paired tests: {"threshold", "fallback", "values": {method: per_seed()},
  "vs_scratch": {method: {tested metric: paired comparison with its Holm verdict}}}.
  curves: {method: [seeds, iterations + 1]} raw greedy returns, with "scratch"."""
  time_threshold, fallback = threshold(curves["scratch"], scale.criterion)
  values = {m: per_seed(c, curves["scratch"], scale, time_threshold) for m, c in curves.items()}
  versus, family = {}, {}
  for method, metrics in values.items():
    versus[method] = {}
    if method == "scratch":
      continue
    for name, lower_is_better in TESTED.items():
      if np.isnan(metrics[name]).any():
        continue
      reference = np.zeros_like(metrics[name]) if name == "jumpstart" else values["scratch"][name]
      versus[method][name] = family[(method, name)] = {**paired.compare(metrics[name], reference),
                                                       "lower_is_better": lower_is_better}
  paired.judge(family)
  return {"threshold": time_threshold, "fallback": fallback, "values": values, "vs_scratch": versus}


def table(curves, scale, reps):
  """versus_scratch() with each method's row: {metric: (iqm, low, high) over the seeds where
  it is defined, or None} of METRICS and "vs_scratch" its tests, under "rows"."""
  tested = versus_scratch(curves, scale)
  rows = {m: {**{name: _iqm(v[name], reps) for name in METRICS}, "vs_scratch": tested["vs_scratch"][m]}
          for m, v in tested["values"].items()}
  return {**tested, "rows": rows}


def _iqm(values, reps):
  """IQM [95% CI] of the defined values, or None where fewer than 2 are."""
  defined = values[~np.isnan(values)]
  return st.iqm_interval(defined, reps) if len(defined) >= 2 else None
