"""bin/spam_report: REPORT.md and PNG figures from a sweep's (or spam_main's) root_dir.

Everything in the report is computed from summary.json and the units' files:
per-seed scores (spam_tf.analysis.scores), intervals (spam_tf.analysis.statistics),
tables, figures and generated sentences (tables, figures, text), and the genome
section (genome_section). The paper's own numbers (../shared/seeds/000_9d4e88c8341d3aa2.txt,
Tables 1-4), PAPER below, are the only constants.
"""
import collections
import os
import re

import numpy as np

import spam_tf
from spam_tf import files
from spam_tf.analysis import auto_section
from spam_tf.analysis import figures
from spam_tf.analysis import genome_section
from spam_tf.analysis import matrices
from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st
from spam_tf.analysis import tables
from spam_tf.analysis import text
from spam_tf.analysis import transfer_metrics
from spam_tf.analysis.text import interval

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


def write(root_dir, out_dir, reps=st.BOOTSTRAP_REPS, tuning_root_dir=None):
  """Writes out_dir/REPORT.md and its figures; returns the report's path."""
  os.makedirs(out_dir, exist_ok=True)
  experiments, provenance = scores_lib.load(root_dir)
  lines = ["# SPAM: does an autoencoder-compressed expert give a better starting point?", ""]
  lines += _provenance_lines(provenance, experiments) + _code_lines(root_dir, experiments, provenance)
  lines += matrices.lines(out_dir, experiments) + auto_section.lines(experiments, reps)
  short = bool(matrices.studies(experiments))  # a study of many pairs: short sections
  sections, verdicts, answers = [], [], []
  for name, experiment in experiments.items():
    if "genome" in experiment:  # one section for all code sizes of a pair, below
      continue
    section, verdict, rows = _experiment_section(root_dir, out_dir, name, experiment, reps, short)
    sections += section
    if verdict:
      verdicts.append((name, verdict))
    if rows is not None and "scratch" in rows:
      answers.append((name, scores_lib.experiment_scores(experiment)[0], rows))
  groups = genome_section.genome_groups(experiments)
  if groups:
    sections += ["## Beyond the paper: a genome autoencoder trained on a zoo of experts", ""]
    for group in groups:
      sections += genome_section.genome_lines(root_dir, out_dir, group, reps, tuning_root_dir)
  if answers:
    lines += ["## The answer", ""] + tables.answer_table(answers, reps)
  lines += ["## The answer, per experiment", ""] if verdicts else []
  for name, verdict in verdicts:
    unmapped = PAPER.get(name, {}).get("unmapped")
    if unmapped in experiments:
      verdict = verdict + text.mapping_sentences(experiments[name], experiments[unmapped])
    lines += [f"**{name}**: " + " ".join(verdict), ""]
  lines += sections
  path = os.path.join(out_dir, "REPORT.md")
  files.write_text(path, without_machine_paths("\n".join(lines) + "\n"))
  return path


_ABSOLUTE_PATH = re.compile(r"(?<![^\s`=(])/[\w.+-]+(?:/[\w.+-]+)*")


def without_machine_paths(text):
  """text with every absolute path written relative to the repository (a committed report
  names roots as a reader's checkout sees them, not as the machine that made it did)."""
  return _ABSOLUTE_PATH.sub(lambda m: os.path.relpath(m.group(0), spam_tf.REPO_DIR), text)


def _code_lines(root_dir, experiments, provenance):
  """What code trained the units (each result.json's commit) and which units were taken
  from other roots although trained under other settings."""
  codes = collections.Counter()
  for run_dir in sorted({d for experiment in experiments.values() for d in _run_dirs(experiment)}):
    code = files.read_json(os.path.join(root_dir, run_dir, files.RESULT_FILE)).get("code") or {}
    codes[(code.get("commit"), code.get("dirty"))] += 1
  if len(codes) == 1 and next(iter(codes))[0] and next(iter(codes))[1] is False:
    line = f"- every unit was trained at commit `{next(iter(codes))[0]}` on a clean tree"
  else:
    line = "- the units were trained at: " + "; ".join(
        f"{count} at {f'commit `{commit}`' if commit else 'an unrecorded commit'}"
        + (" (dirty tree)" if dirty else "") for (commit, dirty), count in codes.most_common())
  stale = [s for i in provenance.get("invocations", ()) for s in i.get("stale_units_accepted", ())]
  lines = [line] + ([f"- {len(stale)} units were linked from other roots although trained under other "
                     "settings (`--accept_stale_units`):"] + [f"  - `{s['unit']}` from `{s['from']}`: "
                                                               f"{'; '.join(s['differences'])}" for s in stale]
                    if stale else [])
  return lines + [f"- paired tests: {paired.METHOD_LINE}.", ""]


def _run_dirs(summary):
  """Every unit folder a summary names (its stages', autoencoders', genomes', zoo's)."""
  if isinstance(summary, dict):
    return [*summary.get("run_dirs", ()), *(d for v in summary.values() for d in _run_dirs(v))]
  return []


def _provenance_lines(provenance, experiments):
  seeds = scores_lib.seeds_of(experiments)
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
                # the other root's name: its path says only where this machine kept it
                + ", ".join(f"{count} from `{os.path.basename(os.path.normpath(other))}`"
                            for other, count in reused.items()) + ")"
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
      "- scores per seed: iterations to first reach the success criterion (the paper's experiments: "
      "the task maximum) with the greedy policy (a seed that never does counts as the budget + 1); "
      "normalised area under the eval curve (the mean over iterations of (return - floor) / "
      "(criterion - floor), the floor a random policy's mean return; greedy and stochastic); IQMs and probabilities of improvement "
      "with 95% stratified-bootstrap intervals (rliable); methods share seeds (the same "
      "initialisation, the same env seeds), so their per-seed differences are paired"]


def _experiment_section(root_dir, out_dir, name, experiment, reps, short=False):
  """An experiment's section: (lines, its verdict sentences, its comparisons' rows); short:
  without the performance profile and what the autoencoder did to the weights."""
  paper = PAPER.get(name, {})
  title = f"{name}: {experiment['source']} → {experiment['target']}"
  lines = [f"## {title}", "", f"Paper: {paper.get('figure', '—')}" + (f", {paper['table']}" if "table" in paper else ""), ""]
  figure = f"{name}.png"
  if not experiment["methods"]:  # experts only (the paper's Figure 3)
    expert, scale = experiment["source_expert"], scores_lib.scale_of(experiment, "source")
    figures.curve_figure({"expert": expert["eval_returns"]}, scale,
                 f"{title}: the expert trained for {len(expert['eval_returns'][0]) - 1} iterations",
                 os.path.join(out_dir, figure), reps)
    final = st.final_return(expert["eval_returns"])
    lines += [f"![{name}]({figure})", "",
              f"Mean of the last 10 iterations per seed: IQM {interval(*st.iqm_interval(final, reps))}; "
              f"seeds below the criterion ({scale.criterion:g}) in any of the last 10 iterations: "
              f"{int(np.sum(np.min(np.asarray(expert['eval_returns'])[:, -10:], axis=1) < scale.criterion))}"
              f" of {len(final)}.", ""]
    return lines, None, None
  scores, scale, budget = scores_lib.experiment_scores(experiment)
  rows = scores_lib.comparisons(scores, reps)
  curves = {m: experiment[f"target_{m}"]["eval_returns"] for m in experiment["methods"]}
  figures.curve_figure(curves, scale, title, os.path.join(out_dir, figure), reps)
  lines += [f"![{name}]({figure})", ""]
  if not short:
    profile = f"{name}_profile.png"
    figures.profile_figure({m: scores[m]["iterations"] for m in experiment["methods"]}, budget,
                           f"{name}: fraction of seeds at the criterion by each iteration",
                           os.path.join(out_dir, profile), reps)
    lines += [f"![{name}: performance profile]({profile})", ""]
  lines += [tables.criterion_line(experiment), ""]
  if "scratch" in paper:
    lines += tables.paper_table(paper, experiment, scores, rows, scale.criterion)
  lines += tables.controls_table(rows, budget)
  if "scratch" in curves and len(curves) > 1:
    lines += tables.transfer_metrics_table(transfer_metrics.table(curves, scale, reps), budget)
  verdict = text.verdict_sentences(rows)
  if "autoencoder" in experiment and not short:
    lines += tables.reconstruction_lines(root_dir, out_dir, name, experiment, paper, reps)
  return lines, verdict, rows
