"""The report's verdicts: the primary comparisons each experiment declared before its run.

An experiment's summary lists them ("primary": [[method, reference]], from its sweep
file or spam_tf.running.experiment.default_primary); a reference is a method of the
same experiment or "<experiment>/<method>". Each experiment's primary comparisons are
one Holm family (spam_tf.analysis.paired.judge), in iterations to the threshold
(scores.Scale: the criterion, or the fallback from every run the comparison's
experiments hold, pooled). Everything else in a report is exploratory.

One verdict per question: a comparison of the same two sets of units at the same
threshold is judged once in a report, in the first experiment that declares it (a
later one says where), and an experiment whose units and criterion are all those of an
earlier one is reported as that one.
"""
import dataclasses

from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib


@dataclasses.dataclass
class Judged:
  """One experiment's primary family. comparisons: {(method, reference): paired.judge()'s
  dict, with "scale" (the Scale its iterations count to)}; elsewhere: {(method,
  reference): the experiment where the same comparison was judged}; same_as: the earlier
  experiment with the same units and criterion (then nothing is judged here)."""
  comparisons: dict = dataclasses.field(default_factory=dict)
  elsewhere: dict = dataclasses.field(default_factory=dict)
  same_as: str = None


def arm(experiments, name, reference):
  """(experiment name, method) of a comparison's reference ("<experiment>/<method>" or a
  method of experiment `name`)."""
  other, _, method = reference.rpartition("/")
  return (other or name), method


def _units(experiment, method):
  return tuple(experiment[f"target_{method}"].get("run_dirs", ()))


def _signature(experiment):
  """What makes two experiments the same question: target, criterion, seeds, and the
  units of every method."""
  return (experiment["target"], experiment["tasks"]["target"]["criterion"], tuple(experiment["seeds"]),
          tuple((m, _units(experiment, m)) for m in experiment["methods"]))


def judge_all(experiments):
  """{experiment name: Judged} for every experiment with methods, in the report's order."""
  judged, seen_signatures, seen_comparisons = {}, {}, {}
  for name, experiment in experiments.items():
    if not experiment.get("methods") or "tasks" not in experiment:
      continue
    signature = _signature(experiment)
    if signature in seen_signatures:
      judged[name] = Judged(same_as=seen_signatures[signature])
      continue
    seen_signatures[signature] = name
    judged[name] = _family(experiments, name, seen_comparisons)
  return judged


def _family(experiments, name, seen):
  """Judged for one experiment; `seen` maps (units, units, threshold) of comparisons already
  judged in this report to the experiment that judged them (updated)."""
  experiment, result, family = experiments[name], Judged(), {}
  for method, reference in (tuple(c) for c in experiment.get("primary", ())):
    other_name, other_method = arm(experiments, name, reference)
    label = f"{name}: {method} vs {reference}"
    if other_name not in experiments:
      raise ValueError(f"{label}: no experiment {other_name!r} in this report")
    other = experiments[other_name]
    if other["seeds"] != experiment["seeds"]:
      raise ValueError(f"{label}: the two experiments ran other seeds ({experiment['seeds']} and {other['seeds']})")
    scale = scores_lib.scale_of(experiment, pooled_with=() if other_name == name else (other,))
    key = (_units(experiment, method), _units(other, other_method), scale.threshold)
    if key[0] == key[1]:
      raise ValueError(f"{label}: both sides are the same units")
    if key in seen:
      result.elsewhere[(method, reference)] = seen[key]
      continue
    seen[key] = name
    mine = scores_lib.method_scores(experiment[f"target_{method}"], scale)["iterations"]
    theirs = scores_lib.method_scores(other[f"target_{other_method}"], scale)["iterations"]
    family[(method, reference)] = {**paired.compare(mine, theirs, label=label), "scale": scale}
  result.comparisons = paired.judge(family) if family else {}
  return result
