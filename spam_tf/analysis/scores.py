"""Each method's per-seed scores, and the comparisons between methods the report makes.

A score is one number per seed from a method's eval curves (greedy and stochastic,
[seeds, iterations + 1], column 0 the start point); SCORES lists them, and the
report tabulates each one's IQM with its 95% interval. Adding a statistic to the
report: a pure function in spam_tf/analysis/statistics.py and one line in SCORES
(WORKSPACE.md's recipe; tests/test_recipes.py follows it).
"""
import dataclasses
import os
from typing import Callable, Optional

import numpy as np

from spam_tf import files
from spam_tf.analysis import paired
from spam_tf.analysis import statistics as st


@dataclasses.dataclass(frozen=True)
class Scale:
  """How an experiment judges its target's returns (summary.json "tasks"): the success
  criterion and the random policy's mean return, the 0 of the normalised scale; and the
  return its iterations count to (statistics.threshold: the criterion, or the fallback
  where fewer than half of the experiment's runs reach it; None: the criterion)."""
  criterion: float
  floor: float
  fallback: Optional[float] = None
  unusable_fallback: bool = False  # the fallback would be no higher than the runs' start: the criterion stays

  @property
  def threshold(self):
    return self.criterion if self.fallback is None else self.fallback

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
                        lambda greedy, stochastic, scale: st.iterations_to_max(greedy, scale.threshold)),
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


def scale_of(experiment, stage="target", pooled_with=()):
  """The Scale of an experiment's target (or source) task, from its summary; for the
  target, with the fallback threshold where fewer than half of the runs of its methods
  (and of the experiments `pooled_with`, for a comparison across experiments) reach the
  criterion (statistics.threshold)."""
  if "tasks" not in experiment:
    raise ValueError(f"{experiment.get('name', 'an experiment')}: its summary predates success criteria "
                     "and random-policy floors: rerun its bin/spam_sweep (or spam_main) command on the same "
                     "root_dir (finished units are kept) to rewrite summary.json")
  task = experiment["tasks"][stage]
  if stage != "target" or not experiment["methods"]:
    return Scale(task["criterion"], task["floor"])
  curves = [experiment_[f"target_{m}"]["eval_returns"] for experiment_ in (experiment, *pooled_with)
            for m in experiment_["methods"]]
  threshold, fallback = st.threshold(np.concatenate(curves), task["criterion"])
  return Scale(task["criterion"], task["floor"], threshold if fallback else None,
               unusable_fallback=fallback and threshold is None)


def experiment_scores(experiment):
  """{method: method_scores}, the target's Scale and the budget (iterations)."""
  methods, scale = experiment["methods"], scale_of(experiment)
  scores = {m: method_scores(experiment[f"target_{m}"], scale) for m in methods}
  budget = len(experiment[f"target_{methods[0]}"]["eval_returns"][0]) - 1
  return scores, scale, budget
