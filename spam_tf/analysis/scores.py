"""Each method's per-seed scores, and the comparisons between methods the report makes.

A score is one number per seed from a method's eval curves (greedy and stochastic,
[seeds, iterations + 1], column 0 the start point); SCORES lists them, and the
report tabulates each one's IQM with its 95% interval. Adding a statistic to the
report: a pure function in spam_tf/analysis/statistics.py and one line in SCORES
(WORKSPACE.md's recipe; tests/test_recipes.py follows it).
"""
import dataclasses
import os
from typing import Callable

import numpy as np

from spam_tf import files
from spam_tf.analysis import statistics as st


@dataclasses.dataclass(frozen=True)
class Score:
  """of(greedy [S, T + 1], stochastic [S, T + 1], maximum) -> [S]: one number per seed.
  The per-experiment table gives its IQM [95% CI] in a column headed `title`."""
  title: str
  of: Callable
  digits: int = 1


SCORES = {
    "iterations": Score("iterations IQM [CI]", lambda greedy, stochastic, maximum: st.iterations_to_max(greedy, maximum)),
    "auc": Score("AUC IQM [CI]", lambda greedy, stochastic, maximum: st.normalized_auc(greedy, maximum), 2),
    "auc_stochastic": Score("AUC stochastic", lambda greedy, stochastic, maximum: st.normalized_auc(stochastic, maximum), 2),
    "final": Score("final return (last 10)", lambda greedy, stochastic, maximum: st.final_return(greedy)),
}


def load(root_dir):
  """{experiment name: its summary}, provenance (or {}), from root_dir/summary.json."""
  summary = files.read_json(os.path.join(root_dir, "summary.json"))
  experiments = summary.get("experiments") or {summary.get("name", "main"): summary}
  return experiments, summary.get("provenance", {})


def seeds_of(experiments):
  """Every seed any of the experiments ran, sorted."""
  return sorted({s for e in experiments.values() for s in e["seeds"]})


def method_scores(stage_summary, maximum):
  """Per-seed scores of one method: {name: [seeds]}, every score of SCORES and the start
  return (the greedy return at iteration 0)."""
  greedy = np.asarray(stage_summary["eval_returns"], np.float64)  # [seeds, iterations + 1]
  stochastic = np.asarray(stage_summary["stochastic_eval_returns"], np.float64)
  scores = {name: score.of(greedy, stochastic, maximum) for name, score in SCORES.items()}
  scores["start"] = greedy[:, 0]
  return scores


def experiment_scores(experiment):
  """{method: method_scores}, the task maximum and the budget (iterations)."""
  methods = experiment["methods"]
  maximum = experiment[f"target_{methods[0]}"]["convergence_return"]
  scores = {m: method_scores(experiment[f"target_{m}"], maximum) for m in methods}
  budget = len(experiment[f"target_{methods[0]}"]["eval_returns"][0]) - 1
  return scores, maximum, budget


def comparisons(scores, reps):
  """Per method: IQM intervals of every score, P(method beats scratch / copy), P(spam
  beats method), and the paired difference in iterations from scratch (and copy, and
  spam's from it) with its verdict."""
  rows = {}
  for method, s in scores.items():
    row = {f"{name}_iqm": st.iqm_interval(s[name], reps) for name in SCORES}
    row["start_mean"] = float(np.mean(s["start"]))
    if "scratch" in scores and method != "scratch":  # the stochastic policy, paired, higher is better
      row["stochastic_minus_scratch"] = st.paired_difference(s["auc_stochastic"],
                                                             scores["scratch"]["auc_stochastic"], reps)
    for reference in ("scratch", "copy"):
      if reference in scores and reference != method:
        row.update(_versus(reference, s["iterations"], scores[reference]["iterations"], reps))
    if "spam" in scores and method != "spam":
      row["p_spam_beats"] = st.probability_of_improvement(-scores["spam"]["iterations"],
                                                          -s["iterations"], reps)
      row["spam_minus"] = st.paired_difference(scores["spam"]["iterations"], s["iterations"], reps)
      row["spam_verdict"] = st.verdict(*row["spam_minus"][1:], lower_is_better=True)
    rows[method] = row
  return rows


def _versus(reference, iterations, reference_iterations, reps):
  """A method's iterations [seeds] against a reference's: P(faster), the paired
  difference and its verdict (fewer iterations is better: P(X > Y) on negated ones)."""
  difference = st.paired_difference(iterations, reference_iterations, reps)
  return {f"p_beats_{reference}": st.probability_of_improvement(-iterations, -reference_iterations, reps),
          f"minus_{reference}": difference,
          f"verdict_{reference}": st.verdict(*difference[1:], lower_is_better=True)}
