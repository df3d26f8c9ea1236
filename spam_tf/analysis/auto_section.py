"""The report's automatic-mapping section (transfer.observation_map = 'auto',
spam_tf/spam/auto_map.py): for each (source, target) pair where a start ran with it,
what the choice picked on each seed and what it cost in target steps, and the
iterations to the criterion of every start (the probe's cost included: summary.json's
curves are delayed by it) beside the same starts unmapped and hand-mapped where the
report holds them. Its comparisons are exploratory (mean, unadjusted interval, raw
p) but for the primary ones its experiments declared, whose verdicts are the report's
answer (spam_tf.analysis.primary).
"""
import collections

import numpy as np

from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st
from spam_tf.analysis.formats import interval, saved_exploratory, threshold_text


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


def lines(experiments, judged, reps):
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
    names = [n for n in names if not (judged.get(n) and judged[n].same_as)]  # reported once
    out += [f"### {source} → {target}, criterion {criterion:g}", ""]
    for name in names:
      rows = choice_lines(experiments[name])
      if rows:
        out += [f"**{name}**, the choices over {len(experiments[name]['seeds'])} seeds:", "",
                "| start | chosen (seeds) | why (seeds) | cost: charged target steps (iterations) |",
                "|---|---|---|---|", *rows, "", "Per seed:", "", *per_seed_lines(experiments[name])]
    out += _speed_lines(experiments, names, judged, reps)
  return out


def _automatic(experiment, method):
  return "auto_map_per_seed" in experiment[f"target_{method}"]


def _speed_lines(experiments, names, judged, reps):
  """Iterations to each experiment's threshold, IQM [95% CI], per experiment and start;
  then each automatic start against the same start of the pair's other experiments and
  against scratch: primary where its experiment declared it (the answer has the
  verdict), else exploratory."""
  methods = list(dict.fromkeys(m for n in names for m in experiments[n]["methods"]))
  scales = {n: scores_lib.scale_of(experiments[n]) for n in names}
  out = ["Iterations to each experiment's threshold, IQM [95% CI] (probe cost included):", "",
         "| experiment | iterations to | " + " | ".join(methods) + " |", "|---" * (len(methods) + 2) + "|"]
  for name in names:
    cells = [interval(*st.iqm_interval(_iterations(experiments[name], m, scales[name]), reps))
             if m in experiments[name]["methods"] else "—" for m in methods]
    out.append(f"| {name} | {threshold_text(scales[name])} | " + " | ".join(cells) + " |")
  out += ["", "Iterations saved by each automatic start (positive: the automatic start is faster), paired over "
          "seeds, to the threshold of the runs both sides read:", ""]
  for auto_name in [n for n in names if any(_automatic(experiments[n], m) for m in experiments[n]["methods"])]:
    declared = judged[auto_name].comparisons if auto_name in judged else {}
    for method in [m for m in experiments[auto_name]["methods"] if _automatic(experiments[auto_name], m)]:
      for other, reference in [(n, method) for n in names if n != auto_name] + [(auto_name, "scratch")]:
        label = reference if other == auto_name else f"{other}/{reference}"
        if reference not in experiments[other]["methods"] or experiments[other]["seeds"] != experiments[auto_name]["seeds"]:
          continue
        if (method, label) in declared:
          out.append(f"- {auto_name} {method} vs {label}: primary, its verdict in the answer")
          continue
        scale = scores_lib.scale_of(experiments[auto_name], pooled_with=() if other == auto_name else (experiments[other],))
        test = paired.compare(_iterations(experiments[auto_name], method, scale),
                              _iterations(experiments[other], reference, scale), label=f"{auto_name}: {method} vs {label}")
        out.append(f"- {auto_name} {method} vs {label}: {saved_exploratory(test)} (exploratory)")
  return out + [""]


def _iterations(experiment, method, scale):
  return st.iterations_to_max(experiment[f"target_{method}"]["eval_returns"], scale.threshold)
