"""The report's section per experiment: its curves and profile, the paper's numbers beside
ours, and every start's scores with its comparison to scratch, all exploratory (the
verdicts are the primary comparisons of the report's answer, spam_tf.analysis.primary),
Taylor & Stone's transfer metrics as description, and the sparsity section."""
import os

import numpy as np

from spam_tf.analysis import figures
from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import sparsity_section
from spam_tf.analysis import statistics as st
from spam_tf.analysis import transfer_metrics
from spam_tf.analysis.formats import interval, saved_exploratory, threshold_text
from spam_tf.rl import curves as curves_lib

# The paper's own numbers (Lee & Kim, "SPAM: Biology-Inspired Starting Point Method for
# Transfer Learning Using Autoencoder Compression", Tables 1-4): the report's only constants.
PAPER = {
    "paper_4_1_InvertedPendulum": {"figure": "Fig. 1", "table": "Table 1", "scratch": 88, "spam": 43,
                                   "zero_ratio": 0.62, "sparsity_ratio": 0.79},
    "paper_4_1_CartPole": {"figure": "Fig. 2", "table": "Table 1", "scratch": 13, "spam": 4,
                           "zero_ratio": 0.61, "sparsity_ratio": 0.82},
    "paper_fig3_long_expert": {"figure": "Fig. 3"},
    "paper_4_2_transfer": {"figure": "Fig. 4", "table": "Table 3", "scratch": 88, "spam": 25,
                           "zero_ratio": 0.61, "sparsity_ratio": 0.71},
    "paper_4_2_mapped": {"figure": "not in the paper (4.2 with an observation map)"},
    "paper_4_3_suboptimal": {"figure": "Fig. 5"},
}


def criterion_line(experiment, scale):
  """Each task's success criterion and random-policy floor, and what iterations count to."""
  def task(stage):
    t = experiment["tasks"][stage]
    criterion = ("none" if t["criterion"] is None else f"{t['criterion']:g}"
                 + (" (the task has none: the fallback of these runs)" if t.get("criterion_from") == "fallback" else ""))
    return f"{t['env_id']}: criterion {criterion}, random policy {t['floor']:.1f}"
  same = experiment["source"] == experiment["target"]
  return ("Success criterion and normalisation (0 = the random policy's mean return over "
          f"{experiment['tasks']['target']['floor_episodes']} episodes, 1 = the criterion): "
          + (task("target") if same else f"source {task('source')}; target {task('target')}")
          + f". Iterations count to {threshold_text(scale)}.")


def lines(root_dir, out_dir, name, experiment, judged, reps, short=False):
  """The section's markdown lines; short: without the profile and the sparsity section (a
  study of many pairs). judged: primary.Judged of this experiment, or None."""
  paper = PAPER.get(name, {})
  title = f"{name}: {experiment['source']} → {experiment['target']}"
  out = [f"## {title}", "", f"Paper: {paper.get('figure', '—')}" + (f", {paper['table']}" if "table" in paper else ""), ""]
  if not experiment["methods"]:  # experts only (the paper's Figure 3)
    return out + _expert_lines(out_dir, name, title, experiment, reps)
  if judged is not None and judged.same_as:
    return out + [f"The same units and criterion as {judged.same_as}: see its section.", ""]
  scores, scale, budget = scores_lib.experiment_scores(experiment)
  curves = {m: experiment[f"target_{m}"]["eval_returns"] for m in experiment["methods"]}
  figures.curve_figure(curves, scale, title, os.path.join(out_dir, f"{name}_curves.png"), reps,
                       **_curve_extras(experiment, scale))
  out += [f"![{name}: mean normalised return per iteration]({name}_curves.png)", ""]
  if not short:
    figures.profile_figure({m: scores[m]["iterations"] for m in experiment["methods"]}, budget,
                           f"{name}: fraction of seeds at the threshold by each iteration",
                           os.path.join(out_dir, f"{name}_profile.png"), reps)
    out += [f"![{name}: performance profile]({name}_profile.png)", ""]
  out += [criterion_line(experiment, scale), ""]
  primary = judged.comparisons if judged is not None else {}
  if "scratch" in paper:
    out += paper_table(paper, experiment, scores, scale)
  out += scores_table(scores, budget, primary, reps)
  if "scratch" in curves and len(curves) > 1:
    out += metrics_table(transfer_metrics.describe(curves, scale, reps))
  if "autoencoder" in experiment and not short:
    out += sparsity_section.lines(root_dir, out_dir, name, experiment, paper, reps)
  return out


def _curve_extras(experiment, scale):
  """The curve figure's optional marks: the fallback threshold, and each automatic start's
  mean charged delay in iterations."""
  delays = {m: float(np.mean(experiment[f"target_{m}"]["start_cost_iterations_per_seed"]))
            for m in experiment["methods"] if experiment[f"target_{m}"].get("auto_map_per_seed")}
  extras = {"threshold": scale.fallback} if scale.fallback is not None else {}
  return {**extras, **({"delays": delays} if delays else {})}


def _expert_lines(out_dir, name, title, experiment, reps):
  expert, scale = experiment["source_expert"], scores_lib.scale_of(experiment, "source")
  figures.curve_figure({"expert": expert["eval_returns"]}, scale,
                       f"{title}: the expert trained for {len(expert['eval_returns'][0]) - 1} iterations",
                       os.path.join(out_dir, f"{name}_curves.png"), reps)
  final = st.final_return(expert["eval_returns"])
  below = int(np.sum(np.min(np.asarray(expert["eval_returns"])[:, -10:], axis=1) < scale.criterion))
  return [f"![{name}: the expert's mean normalised return per iteration]({name}_curves.png)", "",
          f"Mean of the last 10 iterations per seed: IQM {interval(*st.iqm_interval(final, reps))}; "
          f"seeds below the criterion ({scale.criterion:g}) in any of the last 10 iterations: {below} of {len(final)}.",
          ""]


def paper_table(paper, experiment, scores, scale):
  """The paper's iterations to convergence beside ours (its mean-curve criterion and per seed)."""
  lines = ["| | paper (iterations, mean curve) | here: mean curve | here: per-seed IQM [95% CI] |",
           "|---|---|---|---|"]
  for method, label in (("scratch", "Expert Model (scratch)"), ("spam", "SPAM")):
    curves = experiment[f"target_{method}"]["eval_returns"]
    ours = curves_lib.iterations_to_convergence(range(len(curves[0])), curves, scale.criterion)
    lines.append(f"| {label} | {paper[method]} | {'never' if ours is None else ours} | "
                 f"{interval(*st.iqm_interval(scores[method]['iterations']))} |")
  return lines + [""]


def scores_table(scores, budget, primary, reps):
  """Every start's return at iteration 0, the IQM [95% CI] of each score of scores.SCORES,
  P(beats scratch) and its paired iterations saved over scratch (exploratory: mean,
  unadjusted 95% interval, raw p; a primary comparison's verdict is in the answer)."""
  titles = [score.title for score in scores_lib.SCORES.values()]
  out = [f"Every start (budget {budget}; never = {budget + 1}); exploratory, no verdict:", "",
         "| method | start return | " + " | ".join(titles) + " | P(beats scratch) | iterations saved vs scratch "
         "(paired; mean [95% CI], p) |", "|---" * (len(titles) + 4) + "|"]
  for method, s in scores.items():
    cells = [interval(*st.iqm_interval(s[name], reps), digits=score.digits) for name, score in scores_lib.SCORES.items()]
    if method == "scratch" or "scratch" not in scores:
      beats, versus = "—", "—"
    else:
      beats = interval(*st.probability_of_improvement(-s["iterations"], -scores["scratch"]["iterations"], reps), digits=2)
      versus = ("primary: see the answer" if (method, "scratch") in primary else
                saved_exploratory(paired.compare(s["iterations"], scores["scratch"]["iterations"],
                                                 label=f"{method} vs scratch")))
    out.append(f"| {method} | {np.mean(s['start']):.1f} | " + " | ".join(cells) + f" | {beats} | {versus} |")
  return out + [""]


def metrics_table(described):
  """Taylor & Stone's metrics (transfer_metrics.describe) per start: IQM [95% CI]."""
  names = {"jumpstart": "jumpstart", "asymptotic": "asymptotic (last 10)", "total_reward": "total reward (AUC)",
           "transfer_ratio": "transfer ratio"}
  out = ["Transfer metrics (Taylor & Stone 2009) on normalised returns, IQM [95% CI] over seeds; jumpstart and "
         f"the transfer ratio against scratch on the same seed (the ratio where scratch's total reward is at least "
         f"{transfer_metrics.RATIO_MIN}); time to threshold is the iterations above; description, no test:", "",
         "| method | " + " | ".join(names.values()) + " |", "|---" * (len(names) + 1) + "|"]
  for method, row in described.items():
    out.append(f"| {method} | " + " | ".join("—" if row[n] is None else interval(*row[n], digits=2) for n in names) + " |")
  return out + [""]
