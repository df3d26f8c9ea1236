"""The report's automatic-mapping section (transfer.observation_map = 'auto',
spam_tf/spam/auto_map.py): for each (source, target) pair where a start ran with it,
what the choice picked on each seed and what it cost in target steps, and the
iterations to the criterion of every start (the probe's cost included: summary.json's
curves are delayed by it) beside the same starts unmapped and hand-mapped where the
report holds them. The paired tests of auto against each of those and against
scratch are one Holm family per pair.
"""
import collections

import numpy as np

from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st
from spam_tf.analysis import transfer_metrics
from spam_tf.analysis.text import interval


def groups(experiments):
  """{(source, target, criterion): [experiment names]} for the pairs (under one success
  criterion) where some start ran with the automatic map: every experiment of that pair
  judged by that criterion, the automatic ones last."""
  found = collections.defaultdict(list)
  for name, experiment in experiments.items():
    if "genome" not in experiment and "tasks" in experiment:
      found[(experiment["source"], experiment["target"], experiment["tasks"]["target"]["criterion"])].append(name)
  automatic = lambda name: any("auto_map_per_seed" in experiments[name][f"target_{m}"]
                               for m in experiments[name]["methods"])
  return {pair: sorted(names, key=automatic) for pair, names in found.items()
          if any(automatic(n) for n in names)}


def map_label(choice):
  """A seed's choice in a few characters: 'nothing', 'unmapped', or the map as the source
  index each target input reads ('-' flipped, '·' none), then the action's sign / order."""
  if choice["map"] is None:
    return choice["chosen"]
  chosen = choice["map"]
  inputs = ["·" if j is None else ("-" if s < 0 else "") + str(j)
            for j, s in zip(chosen["observation"], chosen["signs"])]
  action = (" action -" if chosen["action_sign"] < 0 else "") + (
      f" actions {tuple(chosen['action_order'])}" if chosen.get("action_order") else "")
  return f"[{', '.join(inputs)}]{action}"


def choice_lines(experiment):
  """One table row per method that ran with the automatic map: the choices (count of
  seeds each), the verdicts, and the mean cost in target steps and iterations."""
  rows = []
  for method in experiment["methods"]:
    choices = experiment[f"target_{method}"].get("auto_map_per_seed")
    if not choices:
      continue
    picked = collections.Counter(map_label(c) for c in choices)
    verdicts = collections.Counter(c["verdict"] for c in choices)
    cost = np.mean([c["charged_env_steps"] for c in choices])
    delay = np.mean(experiment[f"target_{method}"]["start_cost_iterations_per_seed"])
    rows.append(f"| {method} | " + "; ".join(f"{label} × {n}" for label, n in picked.most_common())
                + " | " + "; ".join(f"{v} × {n}" for v, n in verdicts.most_common())
                + f" | {cost:.0f} ({delay:.2f}) |")
  return rows


def per_seed_lines(experiment):
  """A table with a row per seed: each automatic start's choice and its charged steps."""
  methods = [m for m in experiment["methods"] if experiment[f"target_{m}"].get("auto_map_per_seed")]
  out = ["| seed | " + " | ".join(f"{m}: chosen | charged steps" for m in methods) + " |",
         "|---" * (2 * len(methods) + 1) + "|"]
  for index, seed in enumerate(experiment["seeds"]):
    cells = [experiment[f"target_{m}"]["auto_map_per_seed"][index] for m in methods]
    out.append(f"| {seed} | " + " | ".join(f"{map_label(c)} | {c['charged_env_steps']}" for c in cells) + " |")
  return out + [""]


def lines(experiments, reps):
  """The section's markdown lines ([] when no experiment used the automatic map)."""
  found = groups(experiments)
  if not found:
    return []
  out = ["## Automatic inter-task mapping", "",
         "The start chosen per seed from target experience (spam_tf/spam/auto_map.py): the two tasks' "
         "linear transition models rank signed observation maps, and a probe of the candidates (the "
         "target's fresh initialisation, \"transfer nothing\", among them) picks one; where no map's "
         "model score reaches the probe floor, nothing is transferred without a probe. Every target step "
         "it took is charged, except the fresh initialisation's own complete episodes when the choice is "
         "\"nothing\" (they are the head of iteration 1's batch): the curves are delayed by the charged "
         "steps in iterations (steps / batch_steps), "
         "each point holding the return the run had evaluated by then (a cost of 0.2 iterations shows "
         "the run's own iteration k at k + 1), so the iterations below include it, rounded up. A map "
         "is written as the source input each target input reads ('-' flipped, '·' none).", ""]
  for (source, target, criterion), names in found.items():
    out += [f"### {source} → {target}, criterion {criterion:g}", ""]
    for name in names:
      rows = choice_lines(experiments[name])
      if rows:
        out += [f"**{name}**, the choices over {len(experiments[name]['seeds'])} seeds:", "",
                "| start | chosen (seeds) | why (seeds) | cost: charged target steps (iterations) |",
                "|---|---|---|---|", *rows, "", "Per seed:", "", *per_seed_lines(experiments[name])]
    out += _speed_lines(experiments, names, reps)
  return out


def _speed_lines(experiments, names, reps):
  """Iterations to the criterion, IQM [95% CI], per experiment and start, then the paired
  tests of each automatic start against the same start in the other experiments and
  against scratch (Holm over the pair)."""
  methods = list(dict.fromkeys(m for n in names for m in experiments[n]["methods"]))
  iterations, fallback = {}, False
  for name in names:
    scale = scores_lib.scale_of(experiments[name])
    # The transfer matrices' threshold, so both parts of the report judge alike.
    threshold, fallback = transfer_metrics.threshold(experiments[name]["target_scratch"]["eval_returns"],
                                                     scale.criterion)
    for method in experiments[name]["methods"]:
      iterations[(name, method)] = st.iterations_to_max(experiments[name][f"target_{method}"]["eval_returns"],
                                                        scale.criterion if threshold is None else threshold)
  what = (f"the fallback threshold {threshold:g} (scratch reaches the criterion on fewer than half its seeds)"
          if fallback and threshold is not None else "the criterion")
  out = [f"Iterations to {what}, IQM [95% CI] (probe cost included):", "",
         "| experiment | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
  for name in names:
    cells = [interval(*st.iqm_interval(iterations[(name, m)], reps)) if (name, m) in iterations else "—"
             for m in methods]
    out.append(f"| {name} | " + " | ".join(cells) + " |")
  family = {}
  for auto_name in [n for n in names if any("auto_map_per_seed" in experiments[n][f"target_{m}"]
                                            for m in experiments[n]["methods"])]:
    for method in experiments[auto_name]["methods"]:
      if "auto_map_per_seed" not in experiments[auto_name][f"target_{method}"]:
        continue
      for other, reference in [(n, method) for n in names if n != auto_name] + [(auto_name, "scratch")]:
        if (other, reference) in iterations and experiments[other]["seeds"] == experiments[auto_name]["seeds"]:
          family[(auto_name, method, other, reference)] = paired.compare(
              iterations[(auto_name, method)], iterations[(other, reference)])
  paired.judge(family)
  out += ["", "Paired differences in iterations (automatic minus the other; negative: the automatic "
          "map is faster), Holm-corrected over this pair's comparisons:", ""]
  out += [f"- {auto} {method} vs {other} {reference}: {paired.text(c)}, Holm-adjusted p = "
          f"{c['p_adjusted']:.3g}: **{c['verdict']}**" for (auto, method, other, reference), c in family.items()]
  return out + [""]
