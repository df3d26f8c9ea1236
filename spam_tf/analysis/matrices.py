"""Transfer matrices: for a study of source x target pairs (configs/sweeps/suite.gin), one
heatmap per start point with a cell per pair, of a Taylor & Stone metric against scratch
(spam_tf/analysis/transfer_metrics.py): iterations saved to the pair's threshold
(scratch's minus the start's, mean over seeds; positive: faster) and jumpstart
(normalised start return minus scratch's; positive: a higher start). A cell is marked *
where its start against scratch is a primary comparison of its experiment
(spam_tf/analysis/primary.py) whose verdict found a difference (its sign says which
way; every other cell is exploratory: no mark), and † where the threshold is the
fallback (fewer than half of the pair's runs reach the criterion); — where a pair did
not run or has no usable threshold. The heatmaps' rows and
columns are one task order (the diagonal, same-task cells, outlined; absent pairs gray),
and their colour scale is symmetric and clipped at a high percentile of |cells| over the
figure's panels, a clipped cell's text ending ▲ (above) or ▼ (below).
"""
import os
import re
import textwrap

import numpy as np

from spam_tf.analysis import scores as scores_lib

# metric: (title, sign, digits); the title says the sign, as the report's tables do.
SHOWN = {"time_to_threshold": ("iterations saved vs scratch (positive: faster)", -1.0, 1),
         "jumpstart": ("jumpstart vs scratch, normalised (positive: higher start)", 1.0, 2)}
FILES = {"time_to_threshold": "iterations_saved", "jumpstart": "jumpstart"}  # metric: its PNG's name
CLIP_PERCENTILE = 90  # the colour scale's bound: this percentile of |cells| over a figure's panels


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


def cells(experiments, pairs, judged=None):
  """{method: {(source, target): {metric of SHOWN: (value, verdict)}, "fallback": {pair: bool}}}:
  value = the mean over seeds of scratch's iterations to the pair's threshold minus the
  start's (positive: faster; none where the threshold is unusable), or of the start's
  normalised return at iteration 0 minus scratch's (positive: a higher start); verdict:
  the primary comparison's of the start against scratch where its experiment declared
  one (judged: {name: primary.Judged}), else None (exploratory)."""
  found = {}
  for pair, name in pairs.items():
    experiment = experiments[name]
    scores, scale, _ = scores_lib.experiment_scores(experiment)
    declared = judged[name].comparisons if judged and name in judged else {}
    for method in [m for m in experiment["methods"] if m != "scratch"]:
      verdict = declared.get((method, "scratch"), {}).get("verdict")
      entry = found.setdefault(method, {"fallback": {}})
      entry[pair] = {"jumpstart": (float(np.mean(scale.normalize(scores[method]["start"])
                                                 - scale.normalize(scores["scratch"]["start"]))), None)}
      if not scale.unusable_fallback:
        entry[pair]["time_to_threshold"] = (float(np.mean(scores["scratch"]["iterations"] - scores[method]["iterations"])),
                                            verdict)
      entry["fallback"][pair] = scale.fallback is not None
  return found


def _mark(verdict, fallback):
  """* for a verdict that found a difference (none for None or "no difference"), † for a fallback threshold."""
  return ("*" if verdict not in (None, "no difference") else "") + ("†" if fallback else "")


def task_order(sources, targets):
  """One order for rows and columns: the sources, then the targets not among them, first-seen."""
  return list(dict.fromkeys([*sources, *targets]))


def clip_bound(grids, percentile=CLIP_PERCENTILE):
  """The colour scale's bound (symmetric, +-bound): the percentile of |value| over every
  defined cell of grids (a list of arrays, nan = no cell); the largest |value| where that
  is 0, and 1 where there is none."""
  values = np.abs(np.concatenate([np.ravel(g) for g in grids] + [np.zeros(0)]))
  values = values[~np.isnan(values)]
  if not values.size:
    return 1.0
  bound = float(np.percentile(values, percentile))
  return bound if bound > 0 else (float(values.max()) or 1.0)


def clip_mark(value, bound):
  """▲ above the colour scale, ▼ below it, "" within."""
  return "▲" if value > bound else "▼" if value < -bound else ""


def _grid(entry, tasks, metric):
  """[tasks, tasks] of the metric's values (rows: source, columns: target), nan where absent."""
  return np.array([[entry[(s, t)][metric][0] if metric in entry.get((s, t), {}) else np.nan
                    for t in tasks] for s in tasks])


def _text(entry, pair, metric, bound=np.inf):
  """A cell's text: the signed value, ▲/▼ where the colour scale (+-bound) clips it, * / †."""
  value, verdict = entry[pair][metric]
  digits = SHOWN[metric][2]
  fallback = metric == "time_to_threshold" and entry["fallback"][pair]
  return f"{round(value, digits) + 0.0:+.{digits}f}{clip_mark(value, bound)}" + _mark(verdict, fallback)


def cell_texts(entry, tasks, metric, bound):
  """{(source, target): _text} of every pair of tasks with the metric defined."""
  return {(s, t): _text(entry, (s, t), metric, bound) for s in tasks for t in tasks
          if metric in entry.get((s, t), {})}


def _panel(plt, ax, entry, tasks, metric, bound, colormap):
  """One method's heatmap: cells, their texts, the diagonal outlined."""
  image = ax.imshow(_grid(entry, tasks, metric), cmap=colormap, vmin=-bound, vmax=bound)
  texts = cell_texts(entry, tasks, metric, bound)
  for (source, target), text in texts.items():
    value = entry[(source, target)][metric][0]
    ax.text(tasks.index(target), tasks.index(source), text, ha="center", va="center", fontsize=8,
            color="white" if abs(value) > 0.6 * bound else "black")
  for i in range(len(tasks)):  # same-task cells: source = target
    ax.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.8))
  names = [t.split("-v")[0] for t in tasks]
  ax.set_xticks(range(len(tasks)), names, rotation=35, ha="right", fontsize=7)
  ax.set_yticks(range(len(tasks)), names, fontsize=7)
  ax.set_xlabel("target", fontsize=8)
  return image, texts


def figure(found, sources, targets, metric, path):
  """One heatmap per method of SHOWN[metric], rows (source) and columns (target) in one task
  order (task_order), diagonal outlined, absent pairs gray, the colour scale clipped at
  clip_bound. Returns {"tasks", "bound", "texts": {method: cell_texts}}."""
  import matplotlib  # pylint: disable=import-outside-toplevel  (slow import)
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  title = SHOWN[metric][0]
  methods, tasks = list(found), task_order(sources, targets)
  grids = [_grid(found[m], tasks, metric) for m in methods]
  bound = clip_bound(grids)
  above = any(np.nanmax(g) > bound for g in grids if not np.isnan(g).all())
  below = any(np.nanmin(g) < -bound for g in grids if not np.isnan(g).all())
  # Gray: a pair that did not run, or an undefined metric (white would read as 0).
  colormap = plt.get_cmap("RdBu").with_extremes(bad="lightgray")
  fig, axes = plt.subplots(1, len(methods), figsize=(2.9 * len(methods) + 2.4, 4.4), dpi=120, squeeze=False,
                           layout="compressed")  # compressed: fixed-aspect panels, titles kept clear
  texts = {}
  for index, (ax, method) in enumerate(zip(axes[0], methods)):
    image, texts[method] = _panel(plt, ax, found[method], tasks, metric, bound, colormap)
    ax.set_title(method, fontsize=10)
    if index:
      ax.tick_params(labelleft=False)
  axes[0][0].set_ylabel("source", fontsize=8)
  fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label=title.replace(" (", "\n("),
               extend={(True, True): "both", (True, False): "max", (False, True): "min"}.get((above, below), "neither"))
  fig.suptitle(title, fontsize=10)
  caption = ("* a primary comparison against scratch (declared before the run) found a difference"
             + (", † fallback threshold" if metric == "time_to_threshold" else "")
             + f"; ▲/▼ beyond the colour scale ±{bound:.3g} ({CLIP_PERCENTILE}th percentile of |cells|);"
             " outlined: same task")
  fig.supxlabel(textwrap.fill(caption, int(15 * fig.get_figwidth())), fontsize=8)
  fig.canvas.draw()  # the compressed layout settles on a second pass (the first leaves titles overlapping)
  fig.savefig(path)
  plt.close(fig)
  return {"tasks": tasks, "bound": bound, "texts": texts}


def study_slug(gin_files):
  """A study's short name from its gin files: ("configs/suite.gin", "configs/auto_map.gin") ->
  "suite_auto_map"; "default" without any."""
  names = [os.path.splitext(os.path.basename(f))[0] for f in gin_files]
  return re.sub(r"[^A-Za-z0-9_-]+", "_", "_".join(names)) or "default"


def lines(out_dir, experiments, judged=None):
  """The report's opening section: per study, both matrices as figures and as one table
  per metric (several studies, e.g. one transfer unmapped and automatically mapped: one
  section each, named by its gin files). Figures: matrix_<FILES[metric]>.png, with several
  studies matrix_<study_slug>_<FILES[metric]>.png."""
  found_studies = studies(experiments)
  result = []
  slugs = []
  for index, (gin_files, pairs) in enumerate(found_studies):
    label = f": {' + '.join(gin_files)}" if len(found_studies) > 1 else ""
    slugs.append(study_slug(gin_files) + (f"_{index + 1}" if study_slug(gin_files) in slugs else ""))
    prefix = f"matrix_{slugs[-1]}_" if len(found_studies) > 1 else "matrix_"
    result += _study_lines(out_dir, experiments, pairs, label, prefix, judged)
  return result


def _study_lines(out_dir, experiments, pairs, label, prefix, judged):
  sources = list(dict.fromkeys(s for s, _ in pairs))
  targets = list(dict.fromkeys(t for _, t in pairs))
  found = cells(experiments, pairs, judged)
  result = [f"## Transfer matrices{label}", "",
            "Rows: source task, columns: target task; a cell is the mean over seeds of the paired difference "
            "from scratch (positive: faster, or a higher start). * a primary comparison (the start against "
            "scratch, declared for its pair before the run; the answer has its verdict) finds a difference; every "
            "other cell is exploratory. † the threshold is the fallback (fewer than half of the pair's runs reach "
            "the criterion). In the "
            "figures, rows and columns are one task order (outlined: same task; gray: no such pair), and the "
            f"colour scale is clipped at the {CLIP_PERCENTILE}th percentile of |cells| (▲/▼: beyond it).", ""]
  for metric, (title, _, _) in SHOWN.items():
    png = f"{prefix}{FILES[metric]}.png"
    figure(found, sources, targets, metric, os.path.join(out_dir, png))
    result += [f"![{title}]({png})", "", f"{title}:", "",
               "| method | source → target | " + " | ".join(targets) + " |", "|---" * (len(targets) + 2) + "|"]
    for method, entry in found.items():
      for source in sources:
        row = [_text(entry, (source, target), metric) if metric in entry.get((source, target), {}) else "—"
               for target in targets]
        result.append(f"| {method} | {source} | " + " | ".join(row) + " |")
    result.append("")
  return result
