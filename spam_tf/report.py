"""bin/spam_report: REPORT.md and PNG figures from a sweep's (or spam_main's) root_dir.

Everything in the report is computed here from summary.json and the units' files:
per-seed scores (spam_tf.statistics), intervals, verdicts and their sentences.
The paper's own numbers (../shared/seeds/000_9d4e88c8341d3aa2.txt, Tables 1-4)
are the only constants.
"""
import json
import os
import re

import numpy as np

from spam_tf import autoencoder
from spam_tf import files
from spam_tf import genome as genome_lib
from spam_tf import metrics
from spam_tf import statistics as st
from spam_tf import train
from spam_tf import weights as weights_lib

# The paper's figures and tables, by the experiment names of configs/sweeps/paper.gin.
# "scratch" is the paper's "Expert Model" row (f2 from its own initialisation).
PAPER = {
    "paper_4_1_InvertedPendulum": {"figure": "Fig. 1", "table": "Table 1", "scratch": 88, "spam": 43,
                                   "zero_ratio": 0.62, "sparsity_ratio": 0.79},
    "paper_4_1_CartPole": {"figure": "Fig. 2", "table": "Table 1", "scratch": 13, "spam": 4,
                           "zero_ratio": 0.61, "sparsity_ratio": 0.82},
    "paper_fig3_long_expert": {"figure": "Fig. 3"},
    "paper_4_2_transfer": {"figure": "Fig. 4", "table": "Table 3", "scratch": 88, "spam": 25,
                           "zero_ratio": 0.61, "sparsity_ratio": 0.71},
    "paper_4_2_mapped": {"figure": "not in the paper (4.2 with an observation map)",
                         "unmapped": "paper_4_2_transfer"},
    "paper_4_3_suboptimal": {"figure": "Fig. 5"},
}
CONTROLS = ("relu", "prune", "relu_prune", "noise")
TOLERANCES = (0.0, 1e-6, 1e-4, 1e-3, 1e-2)
COLORS = {"scratch": "#444444", "spam": "#d62728", "copy": "#1f77b4", "prune": "#2ca02c",
          "relu": "#ff7f0e", "relu_prune": "#9467bd", "noise": "#8c564b", "expert": "#17becf"}


def load(root_dir):
  """{experiment name: its summary}, provenance (or {}), from root_dir/summary.json."""
  summary = files.read_json(os.path.join(root_dir, "summary.json"))
  experiments = summary.get("experiments") or {summary.get("name", "main"): summary}
  return experiments, summary.get("provenance", {})


def method_scores(stage_summary, maximum):
  """Per-seed scores of one method: {name: [seeds]}; iterations to the maximum (never =
  budget + 1), normalised AUC (greedy and stochastic), final return, start return."""
  greedy = np.asarray(stage_summary["eval_returns"], np.float64)  # [seeds, iterations + 1]
  stochastic = np.asarray(stage_summary["stochastic_eval_returns"], np.float64)
  return {"iterations": st.iterations_to_max(greedy, maximum),
          "auc": st.normalized_auc(greedy, maximum),
          "auc_stochastic": st.normalized_auc(stochastic, maximum),
          "final": st.final_return(greedy),
          "start": greedy[:, 0]}


def experiment_scores(experiment):
  """{method: method_scores}, the task maximum and the budget (iterations)."""
  methods = experiment["methods"]
  maximum = experiment[f"target_{methods[0]}"]["convergence_return"]
  scores = {m: method_scores(experiment[f"target_{m}"], maximum) for m in methods}
  budget = len(experiment[f"target_{methods[0]}"]["eval_returns"][0]) - 1
  return scores, maximum, budget


def _fmt(value, digits=1):
  return "—" if value is None else f"{value:.{digits}f}"


def _interval(point, low, high, digits=1):
  return f"{_fmt(point, digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}]"


def comparisons(scores, reps):
  """Per method: IQM intervals, P(method beats scratch / copy), P(spam beats method), and the
  paired difference in iterations from scratch (and copy) with its verdict."""
  rows = {}
  for method, s in scores.items():
    row = {"iterations_iqm": st.iqm_interval(s["iterations"], reps),
           "auc_iqm": st.iqm_interval(s["auc"], reps),
           "auc_stochastic_iqm": st.iqm_interval(s["auc_stochastic"], reps),
           "final_iqm": st.iqm_interval(s["final"], reps),
           "start_mean": float(np.mean(s["start"]))}
    if "scratch" in scores and method != "scratch":  # the stochastic policy, paired, higher is better
      row["stochastic_minus_scratch"] = st.paired_difference(s["auc_stochastic"],
                                                             scores["scratch"]["auc_stochastic"], reps)
    for reference in ("scratch", "copy"):
      if reference in scores and reference != method:
        # Fewer iterations is better: P(X > Y) on negated iterations.
        row[f"p_beats_{reference}"] = st.probability_of_improvement(
            -s["iterations"], -scores[reference]["iterations"], reps)
        row[f"minus_{reference}"] = st.paired_difference(s["iterations"], scores[reference]["iterations"], reps)
        row[f"verdict_{reference}"] = st.verdict(*row[f"minus_{reference}"][1:], lower_is_better=True)
    if "spam" in scores and method != "spam":
      row["p_spam_beats"] = st.probability_of_improvement(-scores["spam"]["iterations"],
                                                          -s["iterations"], reps)
      row["spam_minus"] = st.paired_difference(scores["spam"]["iterations"], s["iterations"], reps)
      row["spam_verdict"] = st.verdict(*row["spam_minus"][1:], lower_is_better=True)
    rows[method] = row
  return rows


def verdict_sentences(rows):
  """Plain-language verdict of one experiment, from the intervals only."""
  if "spam" not in rows:
    return []
  words = {"better": "reaches the maximum faster than", "worse": "reaches the maximum more slowly than",
           "no difference": "shows no detectable difference from"}
  spam = rows["spam"]
  lines = []
  for reference in ("scratch", "copy"):
    if f"verdict_{reference}" in spam:
      mean, low, high = spam[f"minus_{reference}"]
      lines.append(f"SPAM {words[spam[f'verdict_{reference}']]} `{reference}` (paired difference in "
                   f"iterations to the maximum {mean:+.1f} [{low:+.1f}, {high:+.1f}], 95% CI).")
  for control in CONTROLS:
    if control in rows:
      mean, low, high = rows[control]["spam_minus"]
      lines.append(f"Against `{control}`: SPAM {words[rows[control]['spam_verdict']]} it "
                   f"({mean:+.1f} [{low:+.1f}, {high:+.1f}]).")
  beaten = [c for c in CONTROLS if c in rows and rows[c]["spam_verdict"] == "better"]
  if any(c in rows for c in CONTROLS):
    lines.append("So the autoencoder adds something beyond what these controls do to the expert's weights."
                 if beaten and len(beaten) == sum(c in rows for c in CONTROLS) else
                 "So SPAM is not shown to be better than every control that uses no autoencoder"
                 + (f" (it beats {', '.join(f'`{c}`' for c in beaten)})." if beaten else "."))
  return lines


def mapping_sentences(mapped, unmapped, reps):
  """What the observation map changes, per method both experiments ran (same seeds):
  the start return and the paired difference in iterations to the maximum."""
  mapped_scores, _, _ = experiment_scores(mapped)
  unmapped_scores, _, _ = experiment_scores(unmapped)
  lines = []
  for method in mapped["methods"]:
    if method == "scratch" or method not in unmapped_scores:
      continue
    mean, low, high = st.paired_difference(mapped_scores[method]["iterations"],
                                           unmapped_scores[method]["iterations"], reps)
    lines.append(f"The observation map changes `{method}`'s start return from "
                 f"{np.mean(unmapped_scores[method]['start']):.1f} to {np.mean(mapped_scores[method]['start']):.1f} "
                 f"and its iterations to the maximum by {mean:+.1f} [{low:+.1f}, {high:+.1f}] "
                 f"({st.verdict(low, high, lower_is_better=True).replace('better', 'faster').replace('worse', 'slower')}).")
  return lines


# --- figures -----------------------------------------------------------------

def _plt():
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def _finish(plt, fig, ax, title, legend_title, path):
  """Title, grid, and the legend outside the axes (it never covers a curve); saves to path."""
  ax.set_title(title, fontsize=10)
  ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, title=legend_title, title_fontsize=9)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def curve_figure(curves_by_label, maximum, title, path, reps):
  """Mean eval return per iteration with its 95% bootstrap band, one line per label.
  curves_by_label: {label: [seeds, T]}."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.8), dpi=120)
  for label, curves in curves_by_label.items():
    mean, low, high = st.mean_band(curves, reps)
    x = np.arange(len(mean))
    color = COLORS.get(label)
    width = 2.4 if label == "spam" else 1.4
    ax.plot(x, mean, label=label, color=color, linewidth=width)
    ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
  ax.axhline(maximum, color="black", linestyle="--", linewidth=0.8)
  ax.text(0, maximum, " task maximum", va="bottom", fontsize=8)
  ax.set_xlabel("iteration (the paper's timestep)")
  ax.set_ylabel("greedy eval return (mean over seeds)")
  ax.set_ylim(bottom=0, top=maximum * 1.08)
  ax.xaxis.get_major_locator().set_params(integer=True)
  _finish(plt, fig, ax, title, "start point", path)


def profile_figure(iterations, budget, title, path, reps):
  """Performance profile: fraction of seeds at the maximum by each iteration, with its 95%
  band, one line per method. iterations: {method: [seeds]}."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.0), dpi=120)
  for method, (fraction, low, high) in st.reached_by_profile(iterations, budget, reps).items():
    x = np.arange(budget + 1)
    color = COLORS.get(method)
    ax.step(x, fraction, where="post", label=method, color=color, linewidth=2.4 if method == "spam" else 1.4)
    ax.fill_between(x, low, high, step="post", color=color, alpha=0.12, linewidth=0)
  ax.set_xlabel("iteration")
  ax.set_ylabel("fraction of seeds that have\nreached the maximum")
  ax.set_ylim(-0.02, 1.02)
  ax.xaxis.get_major_locator().set_params(integer=True)
  _finish(plt, fig, ax, title, "start point", path)


# --- what the reconstruction is ------------------------------------------------

def reconstruction_table(root_dir, experiment):
  """Mean over seeds, per layer: negatives zeroed, positives copied, positives zeroed
  (statistics.reconstruction_breakdown), and the head bias's mean absolute change."""
  ae_dirs = experiment["autoencoder"]["run_dirs"]
  rows = {}
  for expert_dir, ae_dir in zip(experiment["source_expert"]["run_dirs"], ae_dirs):
    expert_result = files.read_json(os.path.join(root_dir, expert_dir, "result.json"))
    shapes = [tuple(s) for s in expert_result["weight_shapes"]]
    expert = train.load_weights(os.path.join(root_dir, expert_dir), "final")
    reconstruction = autoencoder.load_reconstruction(os.path.join(root_dir, ae_dir))
    expert_arrays = weights_lib.unflatten(expert, shapes)
    rec_arrays = weights_lib.unflatten(reconstruction, shapes)
    for role, e, r in zip(weights_lib.roles(len(shapes), expert_result["discrete"]), expert_arrays, rec_arrays):
      rows.setdefault(role, []).append(st.reconstruction_breakdown(e.ravel(), r.ravel()))
  return {role: {key: st.mean_or_none([b[key] for b in items]) for key in items[0]}
          for role, items in rows.items()}


def sparsity_along_training(root_dir, stage_summary, reps):
  """Sparsity ratio (Def. 4.2) of the weights after each kept iteration of f2, per magnitude
  tolerance: {tol: {iteration: (iqm, lo, hi) or None}}, over the iterations every seed kept
  (runs made before weight snapshots existed have only the start and the final weights)."""
  along = [train.weights_along_training(os.path.join(root_dir, d)) for d in stage_summary["run_dirs"]]
  iterations = sorted(set.intersection(*(set(a) for a in along)) - {0})
  table = {}
  for tol in TOLERANCES:
    table[tol] = {}
    for iteration in iterations:
      ratios = [metrics.sparsity_ratio(a[0], a[iteration], tol) for a in along]
      ratios = [r for r in ratios if r is not None]
      table[tol][iteration] = st.iqm_interval(ratios, reps) if ratios else None
  return table


def sparsity_figure(table, paper_ratio, title, path):
  """Sparsity ratio against the iteration it is measured at, one line (IQM) with its 95%
  band per tolerance; the paper's ratio dashed. table: from sparsity_along_training."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.0), dpi=120)
  colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(table)))
  for color, (tol, by_iteration) in zip(colors, table.items()):
    points = [(i, v) for i, v in by_iteration.items() if v is not None]
    if not points:
      continue
    x = [i for i, _ in points]
    iqm, low, high = (np.array([v[k] for _, v in points]) for k in range(3))
    ax.plot(x, iqm, marker="o", markersize=3, color=color, label="exact zeros" if tol == 0 else f"|w| ≤ {tol:g}")
    ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
  if paper_ratio is not None:
    ax.axhline(paper_ratio, color="black", linestyle="--", linewidth=0.8)
    ax.text(1, paper_ratio, f" paper: {paper_ratio}", va="bottom", fontsize=8)
  ax.set_xscale("log")
  iterations = sorted({i for by_iteration in table.values() for i in by_iteration})
  ax.set_xticks(iterations, [str(i) for i in iterations])
  ax.xaxis.set_minor_locator(plt.NullLocator())
  ax.set_xlabel("iteration of f2 at which the ratio is measured (log scale)")
  ax.set_ylabel("sparsity ratio (Def. 4.2)")
  ax.set_ylim(0, max(1.05, ax.get_ylim()[1]))  # Def. 4.2 can exceed 1: zeros appear elsewhere
  _finish(plt, fig, ax, title, "counted as zero", path)


def sparsity_by_tolerance(root_dir, stage_summary, reps):
  """Zero ratio of the start point and sparsity ratio (Def. 4.2) per magnitude tolerance:
  {tol: {"zero_ratio": (iqm, lo, hi), "sparsity_ratio": (iqm, lo, hi)}}."""
  run_dirs = [os.path.join(root_dir, d) for d in stage_summary["run_dirs"]]
  starts = [train.load_weights(d, "start") for d in run_dirs]
  finals = [train.load_weights(d, "final") for d in run_dirs]
  table = {}
  for tol in TOLERANCES:
    zero = [metrics.zero_ratio(s, tol) for s in starts]
    sparsity = [metrics.sparsity_ratio(s, f, tol) for s, f in zip(starts, finals)]
    kept = [metrics.zeros_kept_fraction(s, f, tol) for s, f in zip(starts, finals)]
    sparsity, kept = [x for x in sparsity if x is not None], [x for x in kept if x is not None]
    table[tol] = {"zero_ratio": st.iqm_interval(zero, reps),
                  "sparsity_ratio": st.iqm_interval(sparsity, reps) if sparsity else None,
                  "zeros_kept": st.iqm_interval(kept, reps) if kept else None}
  return table


# --- beyond the paper: the genome autoencoder (spam_tf/genome.py) ----------------

GENOME_VARIANTS = genome_lib.GENOME_METHODS
_CODE_SIZE = re.compile(r"^build_genome_autoencoder\.code_size = .*$", re.M)
COLORS.update({"genome": "#e377c2", "genome_mean": "#17becf", "genome_sample": "#bcbd22",
               "zoo_mean": "#393b79"})


def genome_groups(experiments):
  """Genome experiments grouped by everything but their code size (the same pair, seeds,
  genome settings, and the same units for their other methods), each group sorted by
  code size. Returns [[(name, experiment)]]; raises ValueError if two experiments of a
  group have the same code size (they would differ in something this report cannot show)."""
  groups = {}
  for name, experiment in experiments.items():
    if "genome" in experiment:
      others = [m for m in experiment["methods"] if m not in GENOME_VARIANTS]
      settings = _CODE_SIZE.sub("", experiment["genome"]["config"])
      key = json.dumps([experiment["source"], experiment["target"], experiment["seeds"], settings]
                       + [experiment[f"target_{m}"]["run_dirs"] for m in others])
      groups.setdefault(key, []).append((name, experiment))
  for group in groups.values():
    sizes = [experiment["genome"]["code_size"] for _, experiment in group]
    if len(set(sizes)) < len(sizes):
      raise ValueError(f"experiments {[name for name, _ in group]} share a code size but nothing tells "
                       f"them apart in the report: give them different code sizes or other methods")
  return [sorted(group, key=lambda item: item[1]["genome"]["code_size"]) for group in groups.values()]


def genome_candidates(root_dir, group, reps):
  """Every compression-based start of a group: {(method, code size): row} with its
  compression ratio, speed-up over scratch (scratch's iterations - its own, per seed:
  IQM [CI]) and its paired difference in iterations from each other start (that the
  experiment ran) with the verdict. Also the no-compression starts' speed-ups:
  {method: (iqm, low, high)}."""
  first = group[0][1]
  dim = first["genome"]["dim"]
  candidates, references = {}, {}
  for index, (_, experiment) in enumerate(group):
    scores, _, _ = experiment_scores(experiment)
    if "scratch" not in scores:  # no speed-up to measure
      continue
    code_sizes = {variant: experiment["genome"]["code_size"] for variant in GENOME_VARIANTS}
    if "spam" in scores:
      code_sizes["spam"] = files.read_json(os.path.join(
          root_dir, experiment["autoencoder"]["run_dirs"][0], "result.json"))["code_dim"]
    # The other methods' units are the same in every experiment of a group: scored once.
    for method in [m for m in scores if m != "scratch" and (index == 0 or m in GENOME_VARIANTS)]:
      speedup = st.iqm_interval(scores["scratch"]["iterations"] - scores[method]["iterations"], reps)
      if method not in code_sizes:
        references[method] = speedup
        continue
      versus = {}
      for other in scores:
        if other not in GENOME_VARIANTS and other != method:
          difference = st.paired_difference(scores[method]["iterations"], scores[other]["iterations"], reps)
          versus[other] = (difference, st.verdict(*difference[1:], lower_is_better=True))
      candidates[(method, code_sizes[method])] = {"compression": dim / code_sizes[method],
                                                  "speedup": speedup, "versus": versus}
  return candidates, references


def genome_figure(candidates, references, title, path, ceiling=None):
  """Speed-up over scratch (IQM, 95% CI) against the compression ratio d / code size:
  a line per genome variant, SPAM's single-expert point, the uncompressed starts dotted,
  and the ceiling (a start at the maximum before training) dashed."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(10.5, 4.6), dpi=120)
  # Offsets keep error bars apart (SPAM's 128-unit code is genome's 128 at the same ratio).
  for offset, method in zip((0.94, 0.98, 1.02, 1.06), GENOME_VARIANTS + ("spam",)):
    rows = sorted((row["compression"], row["speedup"]) for (m, _), row in candidates.items() if m == method)
    if not rows:
      continue
    x = np.array([c for c, _ in rows]) * offset
    iqm, low, high = (np.array([v[k] for _, v in rows]) for k in range(3))
    ax.errorbar(x, iqm, yerr=[iqm - low, high - iqm], marker="o", capsize=3, color=COLORS.get(method),
                linewidth=2.0 if method != "spam" else 0, elinewidth=1.2, label=method)
  for method, (iqm, _, _) in references.items():
    ax.axhline(iqm, color=COLORS.get(method), linestyle=":", linewidth=1.2,
               label=f"{method} (no compression): {iqm:.1f}")
  if ceiling is not None:
    ax.axhline(ceiling, color="gray", linestyle="--", linewidth=1.0,
               label=f"ceiling (at the maximum from the start): {ceiling:.1f}")
  ax.axhline(0, color="black", linewidth=0.8)
  ax.text(0, 0, " scratch", va="bottom", fontsize=8, transform=ax.get_yaxis_transform())
  ax.set_xscale("log")
  ratios = sorted({row["compression"] for row in candidates.values()})
  ax.set_xticks(ratios, [f"{r:.0f}x" for r in ratios])
  ax.xaxis.set_minor_locator(plt.NullLocator())
  ax.set_xlabel("compression ratio d / code size (log scale)")
  ax.set_ylabel("iterations saved vs scratch\n(IQM over seeds, 95% CI)")
  _finish(plt, fig, ax, title, "start point", path)


def _seeds(experiments):
  return sorted({s for e in experiments.values() for s in e["seeds"]})


def check_tuning_root(root_dir, tuning_root_dir):
  """A tuning sweep must be finished and share no seed with the reported one."""
  if not os.path.isfile(os.path.join(tuning_root_dir, "summary.json")):
    raise ValueError(f"no summary.json in {tuning_root_dir}: run (or finish) the sweep first")
  shared = sorted(set(_seeds(load(root_dir)[0])) & set(_seeds(load(tuning_root_dir)[0])))
  if shared:
    raise ValueError(f"--tuning_root_dir shares seeds {shared} with --root_dir: tune on other seeds")


def genome_pick(tuning_root_dir, names, reps):
  """The genome start (variant and code size) with the largest IQM speed-up over scratch in
  the tuning sweep's group of the same experiment names (other seeds), as (method, code
  size), or None. SPAM is no candidate: the code size is what is tuned."""
  experiments, _ = load(tuning_root_dir)
  for group in genome_groups(experiments):
    if [name for name, _ in group] == names:
      candidates, _ = genome_candidates(tuning_root_dir, group, reps)
      candidates = {key: row for key, row in candidates.items() if key[0] in GENOME_VARIANTS}
      return max(candidates, key=lambda key: (candidates[key]["speedup"][0], candidates[key]["speedup"][1],
                                              -candidates[key]["compression"]), default=None)
  return None


def _genome_lines(root_dir, out_dir, group, reps, tuning_root_dir=None):
  names = [name for name, _ in group]
  first = group[0][1]
  candidates, references = genome_candidates(root_dir, group, reps)
  label = f"{first['source']} → {first['target']} ({', '.join(names)})"
  if not candidates:
    return [f"### {label}", "", "No scratch runs in these experiments: no speed-up to measure.", ""]
  figure = f"genome_{names[0]}.png"
  scores, _, _ = experiment_scores(first)
  genome_figure(candidates, references, f"{first['source']} → {first['target']}: start points by compression",
                os.path.join(out_dir, figure), ceiling=st.iqm_interval(scores["scratch"]["iterations"], reps)[0])
  others = sorted({o for row in candidates.values() for o in row["versus"]},
                  key=lambda m: ({"scratch": 0, "copy": 1}.get(m, 2), m))
  lines = [f"### {label}", "", f"![genome: {label}]({figure})", "",
           "Each compression-based start against every start without a genome autoencoder: paired "
           "difference in iterations to the maximum (mean over seeds, negative: faster), 95% CI, and "
           "the verdict; and the iterations it saves over scratch (IQM over seeds, as in the figure):", "",
           "| start | code size | compression | saved vs scratch IQM [CI] | " + " | ".join(f"vs {o}" for o in others) + " |",
           "|---" * (4 + len(others)) + "|"]
  for (method, code), row in sorted(candidates.items(), key=lambda item: (item[0][0] != "spam", item[0])):
    cells = [f"{_interval(*row['versus'][o][0])} {row['versus'][o][1]}" if o in row["versus"] else "—"
             for o in others]
    lines.append(f"| {method} | {code} | {row['compression']:.0f}x | {_interval(*row['speedup'])} | "
                 + " | ".join(cells) + " |")
  lines += ["", "The genome autoencoders (mean over seeds; relative error ||w' - w|| / ||w||, in the zoo's "
            "hidden-unit order). The validation experts are zoo experts kept out of training but used to "
            "stop it (so their error is the best over epochs); M* never touched the autoencoder:", "",
            "| code size | compression | zoo networks: training (validation) | error on validation experts | "
            "the zoo's mean weights as a guess | error on M* | dead outputs | best epoch |",
            "|---|---|---|---|---|---|---|---|"]
  for _, experiment in group:
    g = experiment["genome"]
    lines.append(f"| {g['code_size']} | {g['compression_ratio']:.0f}x | {g['zoo_members']} ({g['held_out_members']}) | "
                 f"{np.mean(g['held_out_relative_error']):.3f} | {np.mean(g['held_out_mean_guess_error']):.3f} | "
                 f"{np.mean(g['expert_relative_error']):.3f} | {np.mean(g['dead_output_fraction']):.3f} | "
                 f"{np.mean(g['best_epoch']):.0f} |")
  lines += ["", genome_verdict(candidates, len(first["seeds"])) + at_maximum_sentence(scores)]
  if tuning_root_dir:
    lines += ["", pick_verdict(genome_pick(tuning_root_dir, names, reps), candidates, tuning_root_dir)]
  return lines + [""]


def _beats_every_reference(row):
  """Whether a candidate is faster than every start it was compared with that uses no
  genome autoencoder and no autoencoder of its own (scratch, copy, the controls)."""
  references = [(o, verdict) for o, (_, verdict) in row["versus"].items() if o != "spam"]
  return bool(references) and all(verdict == "better" for _, verdict in references)


def _reference_names(candidates):
  return ", ".join(f"`{o}`" for o in sorted({o for row in candidates.values() for o in row["versus"]} - {"spam"}))


def pick_verdict(pick, candidates, tuning_root_dir):
  """What the start picked on the tuning seeds does on these seeds: one sentence."""
  if pick is None:
    return f"The tuning sweep in `{tuning_root_dir}` has no group of these experiments: no pick."
  if pick not in candidates:
    return f"The start picked on the tuning seeds, `{pick[0]}` with code size {pick[1]}, did not run here."
  method, code = pick
  results = "; ".join(f"vs `{other}` {verdict} ({_interval(*difference)})"
                      for other, (difference, verdict) in candidates[pick]["versus"].items())
  return (f"**Picked on the tuning seeds** (`{tuning_root_dir}`, seeds disjoint from these): `{method}` with "
          f"code size {code}. On these seeds: {results}. So it "
          + ("reaches the maximum faster than" if _beats_every_reference(candidates[pick])
             else "does not reach the maximum faster than all of")
          + f" {_reference_names(candidates)}.")


def at_maximum_sentence(scores):
  """' ...' naming the starts without a genome autoencoder that are at the task maximum
  before any training on every seed (no start can be faster than those), or ''."""
  at_start = [f"`{m}`" for m, s in scores.items()
              if m not in GENOME_VARIANTS and m != "spam" and len(s["iterations"]) and np.all(s["iterations"] == 0)]
  if not at_start:
    return ""
  return (f" On this pair {', '.join(at_start)} {'is' if len(at_start) == 1 else 'are'} at the maximum before "
          f"any training on every seed: no start can reach it faster, only as fast (the ceiling in the figure).")


def genome_verdict(candidates, seeds):
  """One sentence: which compression-based starts reach the maximum faster than every start
  they were compared with that uses no autoencoder of its own, from the paired intervals."""
  winners = [f"`{method}` (code size {code})" for (method, code), row in sorted(candidates.items())
             if _beats_every_reference(row)]
  compared = _reference_names(candidates)
  tests = sum(len(row["versus"]) for row in candidates.values())
  if winners:
    return (f"Over {seeds} seeds, {', '.join(winners)} reach the maximum faster than each of {compared} "
            f"(95% CIs exclude no difference; {tests} paired comparisons of {len(candidates)} "
            f"compression-based starts, with no correction for their number).")
  return (f"Over {seeds} seeds, none of the {len(candidates)} compression-based starts reaches the maximum "
          f"faster than each of {compared} (95% CIs).")


# --- the report ------------------------------------------------------------------

def write(root_dir, out_dir, reps=st.BOOTSTRAP_REPS, tuning_root_dir=None):
  """Writes out_dir/REPORT.md and its figures; returns the report's path."""
  os.makedirs(out_dir, exist_ok=True)
  experiments, provenance = load(root_dir)
  lines = ["# SPAM: does an autoencoder-compressed expert give a better starting point?", ""]
  lines += _provenance_lines(provenance, experiments)
  sections, verdicts = [], []
  for name, experiment in experiments.items():
    if "genome" in experiment:  # one section for all code sizes of a pair, below
      continue
    section, verdict = _experiment_section(root_dir, out_dir, name, experiment, reps)
    sections += section
    if verdict:
      verdicts.append((name, verdict))
  groups = genome_groups(experiments)
  if groups:
    sections += ["## Beyond the paper: a genome autoencoder trained on a zoo of experts", ""]
    for group in groups:
      sections += _genome_lines(root_dir, out_dir, group, reps, tuning_root_dir)
  lines += ["## The answer, per experiment", ""] if verdicts else []
  for name, verdict in verdicts:
    unmapped = PAPER.get(name, {}).get("unmapped")
    if unmapped in experiments:
      verdict = verdict + mapping_sentences(experiments[name], experiments[unmapped], reps)
    lines += [f"**{name}**: " + " ".join(verdict), ""]
  lines += sections
  path = os.path.join(out_dir, "REPORT.md")
  files.write_text(path, "\n".join(lines) + "\n")
  return path


def _provenance_lines(provenance, experiments):
  seeds = _seeds(experiments)
  rates = ", ".join(f"{env} {rate:,.0f} steps/s" for env, rate in
                    provenance.get("raw_env_steps_per_second", {}).items()) or "not recorded"
  wall = provenance.get("wall_seconds")
  reused = {}
  for invocation in provenance.get("invocations", ()):
    for other, count in invocation.get("units_reused_from", {}).items():
      reused[other] = reused.get(other, 0) + count
  trained = (f"; it trained {provenance['units'] - provenance['units_finished_before']} of "
             f"{provenance['units']} units, the others were finished by earlier invocations"
             + (" or linked from earlier sweeps' units of the same identity ("
                + ", ".join(f"{count} from `{other}`" for other, count in reused.items()) + ")"
                if reused else "")
             if provenance.get("units_finished_before") else "")
  return [
      f"- command: `{provenance.get('command', 'not recorded')}`",
      f"- commit: `{provenance.get('commit', 'not recorded')}`; date: {provenance.get('date', 'not recorded')}",
      f"- seeds: {len(seeds)} ({seeds[0]}..{seeds[-1]}); machine: {provenance.get('cores', '?')} cores; "
      f"raw env step rates at the start: {rates}",
      f"- wall time of the invocation that completed the sweep: "
      f"{'not recorded' if wall is None else f'{wall / 60:.1f} min'}{trained}"
      + (f"; of all {len(provenance['invocations'])} invocations of this root_dir: "
         f"{provenance['wall_seconds_all_invocations'] / 60:.1f} min"
         if len(provenance.get("invocations", ())) > 1 else ""),
      "- scores per seed: iterations to first reach the task maximum with the greedy policy "
      "(a seed that never does counts as the budget + 1); normalised area under the eval curve "
      "(mean return / maximum; greedy and stochastic); intervals are 95% stratified-bootstrap "
      "(rliable) for IQMs and probabilities of improvement, 95% percentile bootstrap over seeds "
      "for paired differences (methods share seeds: same initialisation, same env seeds).",
      ""]


def _experiment_section(root_dir, out_dir, name, experiment, reps):
  paper = PAPER.get(name, {})
  title = f"{name}: {experiment['source']} → {experiment['target']}"
  lines = [f"## {title}", "", f"Paper: {paper.get('figure', '—')}" + (f", {paper['table']}" if "table" in paper else ""), ""]
  figure = f"{name}.png"
  if not experiment["methods"]:  # experts only (the paper's Figure 3)
    expert = experiment["source_expert"]
    curve_figure({"expert": expert["eval_returns"]}, expert["convergence_return"],
                 f"{title}: the expert trained for {len(expert['eval_returns'][0]) - 1} iterations",
                 os.path.join(out_dir, figure), reps)
    final = st.final_return(expert["eval_returns"])
    lines += [f"![{name}]({figure})", "",
              f"Mean of the last 10 iterations per seed: IQM {_interval(*st.iqm_interval(final, reps))}; "
              f"seeds below the maximum in any of the last 10 iterations: "
              f"{int(np.sum(np.min(np.asarray(expert['eval_returns'])[:, -10:], axis=1) < expert['convergence_return']))}"
              f" of {len(final)}.", ""]
    return lines, None
  scores, maximum, budget = experiment_scores(experiment)
  rows = comparisons(scores, reps)
  curve_figure({m: experiment[f"target_{m}"]["eval_returns"] for m in experiment["methods"]}, maximum,
               title, os.path.join(out_dir, figure), reps)
  profile = f"{name}_profile.png"
  profile_figure({m: scores[m]["iterations"] for m in experiment["methods"]}, budget,
                 f"{name}: fraction of seeds at the maximum by each iteration",
                 os.path.join(out_dir, profile), reps)
  lines += [f"![{name}]({figure})", "", f"![{name}: performance profile]({profile})", ""]
  if "scratch" in paper:
    lines += _paper_table(paper, experiment, scores, rows, maximum)
  lines += _controls_table(rows, budget)
  verdict = verdict_sentences(rows)
  if "autoencoder" in experiment:
    lines += _reconstruction_lines(root_dir, out_dir, name, experiment, paper, reps)
  return lines, verdict


def _paper_table(paper, experiment, scores, rows, maximum):
  lines = ["| | paper (iterations, mean curve) | here: mean curve | here: per-seed IQM [95% CI] | verdict (paired, vs scratch) |",
           "|---|---|---|---|---|"]
  for method, label in (("scratch", "Expert Model (scratch)"), ("spam", "SPAM")):
    curves = experiment[f"target_{method}"]["eval_returns"]
    ours = metrics.iterations_to_convergence(range(len(curves[0])), curves, maximum)
    verdict = rows[method].get("verdict_scratch", "—")
    lines.append(f"| {label} | {paper[method]} | {'never' if ours is None else ours} | "
                 f"{_interval(*rows[method]['iterations_iqm'])} | {verdict} |")
  return lines + [""]


def _controls_table(rows, budget):
  lines = [f"Iterations to the maximum (budget {budget}; never = {budget + 1}) and start-point return:", "",
           "| method | start return | iterations IQM [CI] | AUC IQM [CI] | AUC stochastic | final return (last 10) | P(beats scratch) | P(beats copy) | P(spam beats it) | vs scratch (paired iterations) | vs scratch (paired stochastic AUC) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for method, row in rows.items():
    def p(key):
      return _interval(*row[key], digits=2) if key in row else "—"
    paired = (f"{row['minus_scratch'][0]:+.1f} [{row['minus_scratch'][1]:+.1f}, {row['minus_scratch'][2]:+.1f}] "
              f"{row['verdict_scratch']}") if "minus_scratch" in row else "—"
    stochastic = "—"
    if "stochastic_minus_scratch" in row:
      mean, low, high = row["stochastic_minus_scratch"]
      stochastic = (f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] "
                    f"{st.verdict(low, high, lower_is_better=False)}")
    lines.append(f"| {method} | {row['start_mean']:.1f} | {_interval(*row['iterations_iqm'])} | "
                 f"{_interval(*row['auc_iqm'], digits=2)} | {_interval(*row['auc_stochastic_iqm'], digits=2)} | "
                 f"{_interval(*row['final_iqm'])} | "
                 f"{p('p_beats_scratch')} | {p('p_beats_copy')} | {p('p_spam_beats')} | {paired} | {stochastic} |")
  return lines + [""]


def _reconstruction_lines(root_dir, out_dir, name, experiment, paper, reps):
  ae = experiment["autoencoder"]
  lines = ["What the reconstruction is (mean over seeds), per layer of M*:", "",
           "| layer | negatives zeroed | positives copied (within 1%) | positives zeroed |", "|---|---|---|---|"]
  for role, row in reconstruction_table(root_dir, experiment).items():
    lines.append(f"| {role} | {_fmt(row['negative_zeroed'], 2)} | {_fmt(row['positive_copied'], 2)} | "
                 f"{_fmt(row['positive_zeroed'], 2)} |")
  lines += ["", f"Autoencoder: reconstruction MSE {ae['reconstruction_mse']:.4f}, zero ratio (Def. 4.1) "
            f"per seed IQM {_interval(*st.iqm_interval(ae['zero_ratio_per_seed'], reps), digits=3)}"
            + (f" (paper {paper['zero_ratio']})" if "zero_ratio" in paper else "") + ".", ""]
  if "target_spam" in experiment:
    lines += ["Sparsity of SPAM's start point and after f2, by the magnitude counted as zero "
              "(the paper's definitions count exact zeros: tolerance 0):", "",
              "| tolerance | zero ratio of the start [CI] | sparsity ratio (Def. 4.2) [CI] | zeros kept [CI] |",
              "|---|---|---|---|"]
    for tol, row in sparsity_by_tolerance(root_dir, experiment["target_spam"], reps).items():
      sparsity, kept = (_interval(*row[k], digits=3) if row[k] else "—" for k in ("sparsity_ratio", "zeros_kept"))
      lines.append(f"| {'exact' if tol == 0 else f'{tol:g}'} | {_interval(*row['zero_ratio'], digits=3)} | "
                   f"{sparsity} | {kept} |")
    if "sparsity_ratio" in paper:
      lines.append(f"\nThe paper reports a sparsity ratio of {paper['sparsity_ratio']}.")
    lines += [""] + _sparsity_along_lines(root_dir, out_dir, name, experiment, paper, reps)
  return lines


def _sparsity_along_lines(root_dir, out_dir, name, experiment, paper, reps):
  table = sparsity_along_training(root_dir, experiment["target_spam"], reps)
  iterations = list(table[0.0])
  figure = f"{name}_sparsity.png"
  sparsity_figure(table, paper.get("sparsity_ratio"), f"{name}: sparsity ratio of SPAM's weights along f2",
                  os.path.join(out_dir, figure))
  lines = ["Sparsity ratio (Def. 4.2) by the iteration of f2 at which it is measured (rows) and the "
           "magnitude counted as zero (columns), IQM [95% CI] over seeds:", "",
           f"![{name}: sparsity along training]({figure})", "",
           "| iteration | " + " | ".join("exact" if t == 0 else f"≤ {t:g}" for t in table) + " |",
           "|---" * (len(table) + 1) + "|"]
  for iteration in iterations:
    cells = [_interval(*table[t][iteration], digits=2) if table[t][iteration] else "—" for t in table]
    lines.append(f"| {iteration} | " + " | ".join(cells) + " |")
  if "sparsity_ratio" in paper:
    lines += ["", paper_sparsity_sentence(table, paper["sparsity_ratio"])]
  return lines + [""]


def paper_sparsity_sentence(table, paper_ratio):
  """Where (iteration of f2, tolerance) this project's IQM reaches the paper's sparsity ratio."""
  reached = [f"iteration {i} with {'exact zeros' if tol == 0 else f'|w| ≤ {tol:g}'}"
             for tol, by_iteration in table.items() for i, v in by_iteration.items()
             if v is not None and v[0] >= paper_ratio]
  return (f"The paper's sparsity ratio ({paper_ratio}) is reached (IQM) "
          + (f"only at: {'; '.join(reached)}." if reached else "at no iteration and tolerance measured here."))
