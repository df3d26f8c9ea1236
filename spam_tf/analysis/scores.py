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
from spam_tf.analysis import paired
from spam_tf.analysis import statistics as st


@dataclasses.dataclass(frozen=True)
class Scale:
  """How an experiment judges its target's returns (summary.json "tasks"): the success
  criterion and the random policy's mean return, the 0 of the normalised scale."""
  criterion: float
  floor: float

  def normalize(self, returns):
    """(returns - floor) / (criterion - floor), any shape."""
    return st.normalize(returns, self.criterion, self.floor)


@dataclasses.dataclass(frozen=True)
class Score:
  """of(greedy [S, T + 1], stochastic [S, T + 1], scale: Scale) -> [S]: one number per seed.
  The per-experiment table gives its IQM [95% CI] in a column headed `title`."""
  title: str
  of: Callable
  digits: int = 1


# Starts that use no autoencoder: what an autoencoder's start must beat to show it adds something.
NO_AUTOENCODER = ("copy", "prune", "relu", "relu_prune", "noise", "zoo_mean")

SCORES = {
    "iterations": Score("iterations IQM [CI]",
                        lambda greedy, stochastic, scale: st.iterations_to_max(greedy, scale.criterion)),
    "auc": Score("AUC IQM [CI]",
                 lambda greedy, stochastic, scale: st.normalized_auc(greedy, scale.criterion, scale.floor), 2),
    "auc_stochastic": Score("AUC stochastic",
                            lambda greedy, stochastic, scale: st.normalized_auc(stochastic, scale.criterion,
                                                                                scale.floor), 2),
    "final": Score("final return (last 10)", lambda greedy, stochastic, scale: st.final_return(greedy)),
}


def load(root_dir):
  """{experiment name: its summary}, provenance (or {}), from root_dir/summary.json."""
  summary = files.read_json(os.path.join(root_dir, "summary.json"))
  experiments = summary.get("experiments") or {summary.get("name", "main"): summary}
  return experiments, summary.get("provenance", {})


def seeds_of(experiments):
  """Every seed any of the experiments ran, sorted."""
  return sorted({s for e in experiments.values() for s in e["seeds"]})


def method_scores(stage_summary, scale):
  """Per-seed scores of one method: {name: [seeds]}, every score of SCORES and the start
  return (the greedy return at iteration 0)."""
  greedy = np.asarray(stage_summary["eval_returns"], np.float64)  # [seeds, iterations + 1]
  stochastic = np.asarray(stage_summary["stochastic_eval_returns"], np.float64)
  scores = {name: score.of(greedy, stochastic, scale) for name, score in SCORES.items()}
  scores["start"] = greedy[:, 0]
  return scores


def scale_of(experiment, stage="target"):
  """The Scale of an experiment's target (or source) task, from its summary."""
  if "tasks" not in experiment:
    raise ValueError(f"{experiment.get('name', 'an experiment')}: its summary predates success criteria "
                     "and random-policy floors: rerun its bin/spam_sweep (or spam_main) command on the same "
                     "root_dir (finished units are kept) to rewrite summary.json")
  task = experiment["tasks"][stage]
  return Scale(task["criterion"], task["floor"])


def experiment_scores(experiment):
  """{method: method_scores}, the target's Scale and the budget (iterations)."""
  methods, scale = experiment["methods"], scale_of(experiment)
  scores = {m: method_scores(experiment[f"target_{m}"], scale) for m in methods}
  budget = len(experiment[f"target_{methods[0]}"]["eval_returns"][0]) - 1
  return scores, scale, budget


def references(method, methods):
  """The starts a method's iterations are tested against: scratch, copy, and for a start
  made with an autoencoder every start present that uses none (NO_AUTOENCODER)."""
  found = [r for r in ("scratch", "copy") if r in methods and r != method and method != "scratch"]
  if method != "scratch" and method not in NO_AUTOENCODER:
    found += [r for r in methods if r in NO_AUTOENCODER and r not in found]
  return found


def comparisons(scores, reps):
  """Per method: IQM intervals of every score, its mean start return, P(method beats
  scratch / copy) and P(spam beats method) (rliable), and its paired tests
  (spam_tf.analysis.paired), Holm-corrected over all of the experiment's:
  row["vs"][reference] in iterations to the maximum against each of `references`, and
  row["stochastic_vs_scratch"] in the stochastic AUC (higher is better)."""
  rows, family = {}, {}
  for method, s in scores.items():
    row = {f"{name}_iqm": st.iqm_interval(s[name], reps) for name in SCORES}
    row["start_mean"], row["vs"] = float(np.mean(s["start"])), {}
    for reference in references(method, list(scores)):
      row["vs"][reference] = family[(method, reference)] = paired.compare(
          s["iterations"], scores[reference]["iterations"])
    if "scratch" in scores and method != "scratch":
      row["stochastic_vs_scratch"] = family[(method, "scratch", "stochastic")] = {
          **paired.compare(s["auc_stochastic"], scores["scratch"]["auc_stochastic"]), "lower_is_better": False}
    for reference in ("scratch", "copy"):  # fewer iterations is better: P(X > Y) on negated ones
      if reference in scores and reference != method:
        row[f"p_beats_{reference}"] = st.probability_of_improvement(-s["iterations"],
                                                                    -scores[reference]["iterations"], reps)
    if "spam" in scores and method != "spam":
      row["p_spam_beats"] = st.probability_of_improvement(-scores["spam"]["iterations"], -s["iterations"], reps)
    rows[method] = row
  paired.judge(family)
  return rows
