"""Transfer matrices: for a study of source x target pairs (configs/sweeps/suite.gin), one
heatmap per start point with a cell per pair, of a Taylor & Stone metric against scratch
(spam_tf/analysis/transfer_metrics.py): iterations saved to the threshold (scratch's
minus the start's, mean over seeds) and jumpstart (normalised start return minus
scratch's). A cell is marked * where the Holm-corrected paired test finds a difference
(its sign says which way), and † where the threshold is the fallback (scratch reaches
the criterion on fewer than half its seeds); — where a pair did not run or the metric is
undefined there (transfer_metrics: no usable threshold).
"""
import os

import numpy as np

from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import transfer_metrics

SHOWN = {"time_to_threshold": ("iterations saved to the threshold", -1.0, 1),
         "jumpstart": ("jumpstart (normalised)", 1.0, 2)}  # metric: (title, sign, digits)


def studies(experiments):
  """[(gin files, {(source, target): experiment name})]: the experiments grouped by the
  gin files they ran with (summary.json's "gin_files"; one group where it is missing),
  each group that forms a study: every pair at most once, each with scratch and another
  start, from two sources or more to two targets or more, a cross-task pair among them
  (the paper's sweep runs one pair under several configs, and its same-task pairs share
  one; the smoke sweep has one source: no matrix)."""
  groups = {}
  for name, experiment in experiments.items():
    if "scratch" not in experiment["methods"] or len(experiment["methods"]) < 2 or "genome" in experiment:
      continue
    groups.setdefault(tuple(experiment.get("gin_files", ())), []).append(name)
  found = []
  for gin_files, names in groups.items():
    pairs = {(experiments[n]["source"], experiments[n]["target"]): n for n in names}
    sources, targets = {s for s, _ in pairs}, {t for _, t in pairs}
    if (len(pairs) == len(names) and len(sources) >= 2 and len(targets) >= 2
        and any(s != t for s, t in pairs)):
      found.append((gin_files, pairs))
  return found


def study(experiments):
  """The pairs of the experiments' one study ({(source, target): name}), else None."""
  found = studies(experiments)
  return found[0][1] if len(found) == 1 else None


def cells(experiments, pairs):
  """{method: {(source, target): {metric of SHOWN: (value, verdict)}, "fallback": {pair: bool}}}:
  value = sign x the mean paired difference from scratch (positive: the start is ahead)."""
  found = {}
  for pair, name in pairs.items():
    experiment = experiments[name]
    tested = transfer_metrics.versus_scratch(
        {m: np.asarray(experiment[f"target_{m}"]["eval_returns"], np.float64) for m in experiment["methods"]},
        scores_lib.scale_of(experiment))
    for method, versus in tested["vs_scratch"].items():
      if method == "scratch":
        continue
      entry = found.setdefault(method, {"fallback": {}})
      entry[pair] = {metric: (sign * versus[metric]["mean"], versus[metric]["verdict"])
                     for metric, (_, sign, _) in SHOWN.items() if metric in versus}
      entry["fallback"][pair] = tested["fallback"]
  return found


def _mark(verdict, fallback):
  return ("*" if verdict != "no difference" else "") + ("†" if fallback else "")


def figure(found, sources, targets, metric, path):
  """One heatmap per method (rows: sources, columns: targets) of SHOWN[metric]."""
  import matplotlib  # pylint: disable=import-outside-toplevel  (slow import)
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  title, _, digits = SHOWN[metric]
  methods = list(found)
  grids = {m: np.array([[found[m][(s, t)][metric][0] if metric in found[m].get((s, t), {}) else np.nan
                         for t in targets] for s in sources]) for m in methods}
  bound = max([float(np.nanmax(np.abs(g))) for g in grids.values() if not np.isnan(g).all()] + [0.0]) or 1.0
  # Gray: a pair that did not run, or an undefined metric (white would read as 0).
  colormap = plt.get_cmap("RdBu").with_extremes(bad="lightgray")
  fig, axes = plt.subplots(1, len(methods), figsize=(2.6 * len(methods) + 2.4, 3.4), dpi=120, squeeze=False,
                           constrained_layout=True)
  for index, (ax, method) in enumerate(zip(axes[0], methods)):
    image = ax.imshow(grids[method], cmap=colormap, vmin=-bound, vmax=bound)
    for i, source in enumerate(sources):
      for j, target in enumerate(targets):
        if metric in found[method].get((source, target), {}):
          value, verdict = found[method][(source, target)][metric]
          mark = _mark(verdict, metric == "time_to_threshold" and found[method]["fallback"][(source, target)])
          ax.text(j, i, f"{round(value, digits) + 0.0:.{digits}f}{mark}", ha="center", va="center", fontsize=8,
                  color="white" if abs(value) > 0.6 * bound else "black")
    ax.set_title(method, fontsize=10)
    ax.set_xticks(range(len(targets)), [t.split("-v")[0] for t in targets], rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(sources)), [s.split("-v")[0] for s in sources] if index == 0 else [], fontsize=7)
    ax.set_xlabel("target", fontsize=8)
  axes[0][0].set_ylabel("source", fontsize=8)
  fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="vs scratch (positive: ahead)")
  fig.suptitle(f"{title} against scratch; * Holm-corrected paired difference"
               + (", † fallback threshold" if metric == "time_to_threshold" else ""), fontsize=10)
  fig.savefig(path)
  plt.close(fig)


def lines(out_dir, experiments):
  """The report's opening section: per study, both matrices as figures and as one table
  per metric (several studies, e.g. one transfer unmapped and automatically mapped: one
  section each, named by its gin files)."""
  found_studies = studies(experiments)
  result = []
  for index, (gin_files, pairs) in enumerate(found_studies):
    label = f": {' + '.join(gin_files)}" if len(found_studies) > 1 else ""
    prefix = f"matrix_{index + 1}_" if len(found_studies) > 1 else "matrix_"
    result += _study_lines(out_dir, experiments, pairs, label, prefix)
  return result


def _study_lines(out_dir, experiments, pairs, label, prefix):
  sources = list(dict.fromkeys(s for s, _ in pairs))
  targets = list(dict.fromkeys(t for _, t in pairs))
  found = cells(experiments, pairs)
  result = [f"## Transfer matrices{label}", "",
            "Rows: source task, columns: target task; a cell is the mean over seeds of the paired difference "
            "from scratch (positive: the start is ahead). * the Holm-corrected paired sign-flip test finds a "
            "difference (the tests of each pair's transfer-metrics table); † the threshold is the fallback "
            "(scratch reaches the criterion on fewer than half its seeds).", ""]
  for metric, (title, _, digits) in SHOWN.items():
    png = f"{prefix}{metric}.png"
    figure(found, sources, targets, metric, os.path.join(out_dir, png))
    result += [f"![{title}]({png})", "", f"{title}:", "",
               "| method | source → target | " + " | ".join(targets) + " |", "|---" * (len(targets) + 2) + "|"]
    for method, entry in found.items():
      for source in sources:
        row = []
        for target in targets:
          if metric not in entry.get((source, target), {}):
            row.append("—")
            continue
          value, verdict = entry[(source, target)][metric]
          row.append(f"{round(value, digits) + 0.0:+.{digits}f}"
                     + _mark(verdict, metric == "time_to_threshold" and entry["fallback"][(source, target)]))
        result.append(f"| {method} | {source} | " + " | ".join(row) + " |")
    result.append("")
  return result
