"""The report's Markdown tables for one experiment: the paper's numbers beside ours, every
method's scores and comparisons, and what the reconstruction and f2 did to the weights."""
import os

from spam_tf.analysis import figures
from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import sparsity
from spam_tf.analysis import statistics as st
from spam_tf.analysis import transfer_metrics
from spam_tf.analysis.text import fmt, interval, paper_sparsity_sentence, sparsity_artefact_sentence
from spam_tf.rl import curves as curves_lib


def criterion_line(experiment):
  """One line: each task's success criterion and random-policy floor (summary.json "tasks")."""
  def task(stage):
    t = experiment["tasks"][stage]
    return f"{t['env_id']}: criterion {t['criterion']:g}, random policy {t['floor']:.1f}"
  same = experiment["source"] == experiment["target"]
  return ("Success criterion and normalisation (0 = the random policy's mean return over "
          f"{experiment['tasks']['target']['floor_episodes']} episodes, 1 = the criterion): "
          + (task("target") if same else f"source {task('source')}; target {task('target')}") + ".")


def transfer_metrics_table(metrics, budget):
  """Taylor & Stone's metrics (spam_tf.analysis.transfer_metrics): IQM [95% CI] per method,
  and the Holm-corrected paired verdict against scratch of each metric but the ratio."""
  names = {"jumpstart": "jumpstart", "asymptotic": "asymptotic (last 10)", "total_reward": "total reward (AUC)",
           "transfer_ratio": "transfer ratio", "time_to_threshold": "time to threshold"}
  if not metrics["fallback"]:
    threshold = f"the criterion {metrics['threshold']:g}"
  elif metrics["threshold"] is None:
    threshold = ("no threshold: scratch reaches the criterion on fewer than half its seeds, and the return it "
                 "holds over its last 10 iterations (median over seeds) is no higher than where it starts")
  else:
    threshold = (f"the fallback {metrics['threshold']:.1f} (scratch reaches the criterion on fewer than half "
                 "its seeds: the median over seeds of its mean return over the last 10 iterations)")
  lines = [f"Transfer metrics (Taylor & Stone 2009), normalised returns; time to threshold: iterations to "
           f"{threshold} (budget {budget}; never = {budget + 1}); transfer ratio over the seeds where "
           f"scratch's total reward is at least {transfer_metrics.RATIO_MIN}. Verdicts: paired vs scratch, Holm "
           "over this table's tests; — where undefined:", "",
           "| method | " + " | ".join(names.values()) + " |", "|---" * (len(names) + 1) + "|"]
  for method, row in metrics["rows"].items():
    cells = []
    for name in names:
      digits = 1 if name == "time_to_threshold" else 2
      versus = row["vs_scratch"].get(name)
      cells.append("—" if row[name] is None else
                   interval(*row[name], digits=digits) + (f" {versus['verdict']}" if versus else ""))
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return lines + [""]


def paper_table(paper, experiment, scores, rows, criterion):
  """The paper's iterations to convergence beside ours (its mean-curve criterion and per seed)."""
  lines = ["| | paper (iterations, mean curve) | here: mean curve | here: per-seed IQM [95% CI] | verdict (paired, Holm, vs scratch) |",
           "|---|---|---|---|---|"]
  for method, label in (("scratch", "Expert Model (scratch)"), ("spam", "SPAM")):
    curves = experiment[f"target_{method}"]["eval_returns"]
    ours = curves_lib.iterations_to_convergence(range(len(curves[0])), curves, criterion)
    verdict = rows[method]["vs"]["scratch"]["verdict"] if "scratch" in rows[method]["vs"] else "—"
    lines.append(f"| {label} | {paper[method]} | {'never' if ours is None else ours} | "
                 f"{interval(*rows[method]['iterations_iqm'])} | {verdict} |")
  return lines + [""]


def controls_table(rows, budget):
  """Every method's start return, the IQM [CI] of each score of scores.SCORES, the
  probabilities of improvement and the paired differences from scratch."""
  titles = [score.title for score in scores_lib.SCORES.values()]
  lines = [f"Iterations to the criterion (budget {budget}; never = {budget + 1}) and start-point return:", "",
           "| method | start return | " + " | ".join(titles) + " | P(beats scratch) | P(beats copy) | "
           "P(spam beats it) | vs scratch (paired iterations) | vs scratch (paired stochastic AUC) |",
           "|---" * (len(titles) + 7) + "|"]
  for method, row in rows.items():
    def p(key):
      return interval(*row[key], digits=2) if key in row else "—"
    versus = row["vs"].get("scratch")
    iterations = f"{paired.text(versus)} {versus['verdict']}" if versus else "—"
    stochastic = row.get("stochastic_vs_scratch")
    stochastic = f"{paired.text(stochastic, 3)} {stochastic['verdict']}" if stochastic else "—"
    cells = [interval(*row[f"{name}_iqm"], digits=score.digits) for name, score in scores_lib.SCORES.items()]
    lines.append(f"| {method} | {row['start_mean']:.1f} | " + " | ".join(cells) + " | "
                 f"{p('p_beats_scratch')} | {p('p_beats_copy')} | {p('p_spam_beats')} | {iterations} | {stochastic} |")
  return lines + [""]


def reconstruction_lines(root_dir, out_dir, name, experiment, paper, reps):
  """What the autoencoder did to M* per layer, and SPAM's sparsity per tolerance and along f2."""
  ae = experiment["autoencoder"]
  lines = ["What the reconstruction is (mean over seeds), per layer of M*:", "",
           "| layer | negatives zeroed | positives copied (within 1%) | positives zeroed |", "|---|---|---|---|"]
  for role, row in sparsity.reconstruction_table(root_dir, experiment).items():
    lines.append(f"| {role} | {fmt(row['negative_zeroed'], 2)} | {fmt(row['positive_copied'], 2)} | "
                 f"{fmt(row['positive_zeroed'], 2)} |")
  lines += ["", f"Autoencoder: reconstruction MSE {ae['reconstruction_mse']:.4f}, zero ratio (Def. 4.1) "
            f"per seed IQM {interval(*st.iqm_interval(ae['zero_ratio_per_seed'], reps), digits=3)}"
            + (f" (paper {paper['zero_ratio']})" if "zero_ratio" in paper else "") + ".", ""]
  if "target_spam" in experiment:
    lines += ["Sparsity of SPAM's start point and after f2, by the magnitude counted as zero "
              "(the paper's definitions count exact zeros: tolerance 0):", "",
              "| tolerance | zero ratio of the start [CI] | sparsity ratio (Def. 4.2) [CI] | zeros kept [CI] |",
              "|---|---|---|---|"]
    for tol, row in sparsity.sparsity_by_tolerance(root_dir, experiment["target_spam"], reps).items():
      ratio, kept = (interval(*row[k], digits=3) if row[k] else "—" for k in ("sparsity_ratio", "zeros_kept"))
      lines.append(f"| {'exact' if tol == 0 else f'{tol:g}'} | {interval(*row['zero_ratio'], digits=3)} | "
                   f"{ratio} | {kept} |")
    if "sparsity_ratio" in paper:
      lines.append(f"\nThe paper reports a sparsity ratio of {paper['sparsity_ratio']}.")
    lines += [""] + sparsity_along_lines(root_dir, out_dir, name, experiment, paper, reps)
  return lines


def sparsity_along_lines(root_dir, out_dir, name, experiment, paper, reps):
  """The sparsity ratio per iteration of f2 and tolerance: a figure, a table, a sentence."""
  table = sparsity.sparsity_along_training(root_dir, experiment["target_spam"], reps)
  iterations = list(table[0.0])
  figure = f"{name}_sparsity.png"
  figures.sparsity_figure(table, paper.get("sparsity_ratio"), f"{name}: sparsity ratio of SPAM's weights along f2",
                  os.path.join(out_dir, figure))
  lines = ["Sparsity ratio (Def. 4.2) by the iteration of f2 at which it is measured (rows) and the "
           "magnitude counted as zero (columns), IQM [95% CI] over seeds:", "",
           f"![{name}: sparsity along training]({figure})", "",
           "| iteration | " + " | ".join("exact" if t == 0 else f"≤ {t:g}" for t in table) + " |",
           "|---" * (len(table) + 1) + "|"]
  for iteration in iterations:
    cells = [interval(*table[t][iteration], digits=2) if table[t][iteration] else "—" for t in table]
    lines.append(f"| {iteration} | " + " | ".join(cells) + " |")
  if "sparsity_ratio" in paper:
    lines += ["", paper_sparsity_sentence(table, paper["sparsity_ratio"]) + " " + sparsity_artefact_sentence(
        table, paper["sparsity_ratio"], sparsity.f2_learning_rate(root_dir, experiment["target_spam"]))]
  return lines + [""]


def answer_table(answers, reps):
  """The report's answer, one row per experiment and start: the iterations it saves over
  scratch (IQM [95% CI] of scratch's minus its own, per seed) and its Holm-corrected
  verdict against scratch, copy and every start without an autoencoder.
  answers: [(experiment name, {method: scores}, comparisons rows)]."""
  columns = ["scratch", "copy"] + [m for m in scores_lib.NO_AUTOENCODER if m != "copy"]
  columns = [c for c in columns if any(c in rows for _, _, rows in answers)]
  lines = ["Each start against scratch, copy and every start without an autoencoder: iterations to the "
           "success criterion (the paper's experiments: the task maximum), paired over seeds. A cell is the verdict of the Holm-corrected sign-flip test "
           "(faster / slower; \"·\" where it finds no difference) with the mean paired difference in "
           "iterations (negative: faster); empty where the two were not compared.", "",
           "| experiment | start | iterations saved vs scratch, IQM [95% CI] | "
           + " | ".join(f"vs {c}" for c in columns) + " |", "|---" * (len(columns) + 3) + "|"]
  words = {"better": "faster", "worse": "slower", "no difference": "·"}
  for name, scores, rows in answers:
    for method, row in rows.items():
      if method == "scratch":
        continue
      saved = st.iqm_interval(scores["scratch"]["iterations"] - scores[method]["iterations"], reps)
      cells = [f"{words[row['vs'][c]['verdict']]} ({row['vs'][c]['mean']:+.1f})" if c in row["vs"] else ""
               for c in columns]
      lines.append(f"| {name} | {method} | {interval(*saved)} | " + " | ".join(cells) + " |")
  return lines + [""]
