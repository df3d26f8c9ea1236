"""Taylor & Stone's transfer metrics (JMLR 2009, section 3.1), per method and seed,
against scratch on the same seeds, as description (no test: the report's verdicts are its
primary comparisons, spam_tf/analysis/primary.py). Returns are normalised (scores.Scale:
0 = a random policy, 1 = the success criterion), so the metrics compare across tasks:

  jumpstart          the start point's return (iteration 0) minus scratch's
  asymptotic         the mean return of the last WINDOW iterations
  total reward       the area under the curve: mean return over iterations 0..budget
  transfer ratio     total reward / scratch's, per seed; undefined (nan) on a seed where
                     scratch's total reward is below RATIO_MIN (near the random policy,
                     the ratio is noise and can flip sign).
Time to threshold is the iterations the report's other tables count (scores.SCORES,
to the experiment's threshold): not repeated here.
"""
import numpy as np

from spam_tf.analysis import statistics as st

WINDOW = 10
RATIO_MIN = 0.05
DESCRIBED = ("jumpstart", "asymptotic", "total_reward", "transfer_ratio")


def per_seed(greedy, scratch_greedy, scale, window=WINDOW):
  """{metric: [seeds]} of DESCRIBED (nan where undefined, see the module doc). greedy,
  scratch_greedy: [seeds, iterations + 1] raw returns, aligned by seed; scale: scores.Scale."""
  normalized = scale.normalize(greedy)
  scratch = scale.normalize(scratch_greedy)
  total, scratch_total = normalized.mean(axis=1), scratch.mean(axis=1)
  defined = scratch_total >= RATIO_MIN
  return {"jumpstart": normalized[:, 0] - scratch[:, 0],
          "asymptotic": normalized[:, -window:].mean(axis=1),
          "total_reward": total,
          "transfer_ratio": np.where(defined, total / np.where(defined, scratch_total, 1.0), np.nan)}


def describe(curves, scale, reps):
  """{method: {metric of DESCRIBED: (iqm, low, high) over the seeds where it is defined, or
  None}}: the metrics as description, no test (time to threshold is the iterations the
  report's other tables count). curves: {method: [seeds, iterations + 1]} raw greedy
  returns, with "scratch"; scale: scores.Scale."""
  scratch = np.asarray(curves["scratch"], np.float64)
  return {m: {name: _iqm(values, reps) for name, values in per_seed(np.asarray(c, np.float64), scratch, scale).items()}
          for m, c in curves.items()}


def _iqm(values, reps):
  """IQM [95% CI] of the defined values, or None where fewer than 2 are."""
  defined = values[~np.isnan(values)]
  return st.iqm_interval(defined, reps) if len(defined) >= 2 else None
