"""Taylor & Stone's transfer metrics (JMLR 2009, section 3.1), per method and seed,
against scratch on the same seeds. Returns are normalised (scores.Scale: 0 = a random
policy, 1 = the success criterion), so the metrics compare across tasks:

  jumpstart          the start point's return (iteration 0) minus scratch's
  asymptotic         the mean return of the last WINDOW iterations
  total reward       the area under the curve: mean return over iterations 0..budget
  transfer ratio     total reward / scratch's, per seed (not tested: its verdict is
                     total reward's, whose sign it follows)
  time to threshold  iterations to the first eval at or above the threshold: the
                     criterion; where scratch reaches it on fewer than half its seeds,
                     the fallback: the return scratch holds over its last WINDOW
                     iterations (their mean), median over seeds
Verdicts: the paired sign-flip test of each metric but the ratio against scratch,
Holm-corrected over this table (its own family: the main table's verdicts keep theirs).
"""
import numpy as np

from spam_tf.analysis import paired
from spam_tf.analysis import statistics as st

WINDOW = 10
METRICS = ("jumpstart", "asymptotic", "total_reward", "transfer_ratio", "time_to_threshold")
TESTED = {"jumpstart": False, "asymptotic": False, "total_reward": False,
          "time_to_threshold": True}  # metric: lower is better


def threshold(scratch_greedy, criterion, window=WINDOW):
  """(threshold, fallback?): the criterion, unless scratch reaches it on fewer than half
  its seeds; then the median over seeds of scratch's mean return over the last `window`
  iterations. scratch_greedy: [seeds, iterations + 1] raw returns."""
  scratch_greedy = np.asarray(scratch_greedy, np.float64)
  reached = (scratch_greedy >= criterion).any(axis=1)
  if reached.mean() >= 0.5:
    return float(criterion), False
  return float(np.median(scratch_greedy[:, -window:].mean(axis=1))), True


def per_seed(greedy, scratch_greedy, scale, time_threshold, window=WINDOW):
  """{metric: [seeds]} of METRICS. greedy, scratch_greedy: [seeds, iterations + 1] raw
  returns, aligned by seed; scale: scores.Scale."""
  normalized = scale.normalize(greedy)
  scratch = scale.normalize(scratch_greedy)
  total, scratch_total = normalized.mean(axis=1), scratch.mean(axis=1)
  return {"jumpstart": normalized[:, 0] - scratch[:, 0],
          "asymptotic": normalized[:, -window:].mean(axis=1),
          "total_reward": total,
          "transfer_ratio": total / scratch_total,
          "time_to_threshold": st.iterations_to_max(greedy, time_threshold).astype(np.float64)}


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
      reference = np.zeros_like(metrics[name]) if name == "jumpstart" else values["scratch"][name]
      versus[method][name] = family[(method, name)] = {**paired.compare(metrics[name], reference),
                                                       "lower_is_better": lower_is_better}
  paired.judge(family)
  return {"threshold": time_threshold, "fallback": fallback, "values": values, "vs_scratch": versus}


def table(curves, scale, reps):
  """versus_scratch() with each method's row: {metric: (iqm, low, high)} of METRICS and
  "vs_scratch" its tests, under "rows"."""
  tested = versus_scratch(curves, scale)
  rows = {m: {**{name: st.iqm_interval(v[name], reps) for name in METRICS}, "vs_scratch": tested["vs_scratch"][m]}
          for m, v in tested["values"].items()}
  return {**tested, "rows": rows}
