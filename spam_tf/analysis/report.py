"""bin/spam_report: REPORT.md and PNG figures from a sweep's (or spam_main's) root_dir.

Everything in the report is computed from summary.json and the units' files. It opens
with its answer (answer_section: the primary comparisons each experiment declared
before its run, judged by spam_tf.analysis.primary: the report's only verdicts), then
says what made it (provenance), then one section per question: the transfer matrices
of a study of pairs (matrices), the automatic map (auto_section), each experiment
(experiment_section, with its sparsity_section) and the genome autoencoder
(genome_section). Each section module owns its tables, figures and sentences; paired,
statistics, scores, figures and formats are the primitives below them.
"""
import collections
import os
import re

import spam_tf
from spam_tf import files
from spam_tf.analysis import answer_section
from spam_tf.analysis import auto_section
from spam_tf.analysis import experiment_section
from spam_tf.analysis import genome_section
from spam_tf.analysis import matrices
from spam_tf.analysis import paired
from spam_tf.analysis import primary
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st

TITLE = "# SPAM: does an autoencoder-compressed expert give a better starting point?"


def write(root_dir, out_dir, reps=st.BOOTSTRAP_REPS, tuning_root_dir=None):
  """Writes out_dir/REPORT.md and its figures; returns the report's path."""
  os.makedirs(out_dir, exist_ok=True)
  experiments, provenance = scores_lib.load(root_dir)
  judged = {**primary.judge_all(experiments), **genome_section.pick_judged(experiments, tuning_root_dir, reps)}
  lines = [TITLE, ""] + answer_section.lines(experiments, judged)
  lines += ["## How this report was made", ""]
  lines += _provenance_lines(provenance, experiments) + _code_lines(root_dir, experiments, provenance)
  lines += matrices.lines(out_dir, experiments, judged) + auto_section.lines(experiments, judged, reps)
  short = bool(matrices.studies(experiments))  # a study of many pairs: short sections
  for name, experiment in experiments.items():
    if "genome" not in experiment:  # one section for all code sizes of a pair, below
      lines += experiment_section.lines(root_dir, out_dir, name, experiment, judged.get(name), reps, short)
  groups = genome_section.genome_groups(experiments)
  if groups:
    lines += ["## Beyond the paper: a genome autoencoder trained on a zoo of experts", ""]
    for group in groups:
      lines += genome_section.genome_lines(root_dir, out_dir, group, reps, tuning_root_dir)
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


def _wall_time_line(provenance):
  """'- wall time: 186.3 min over 3 invocations (...)': the whole sweep's, then the last one's share."""
  invocations = provenance.get("invocations", ())
  if provenance.get("wall_seconds") is None:
    return "- wall time: not recorded"
  total = provenance.get("wall_seconds_all_invocations", provenance["wall_seconds"])
  reused = collections.Counter()
  for invocation in invocations:
    reused.update(invocation.get("units_reused_from", {}))
  # the other root's name: its path says only where this machine kept it
  linked = "; ".join(f"{count} linked from `{os.path.basename(os.path.normpath(other))}`"
                     for other, count in reused.items())
  return (f"- wall time: {total / 60:.1f} min over {max(len(invocations), 1)} invocation(s) of this root_dir "
          f"for its {provenance['units']} units" + (f" ({linked})" if linked else ""))


def _provenance_lines(provenance, experiments):
  seeds = scores_lib.seeds_of(experiments)
  rates = ", ".join(f"{env} {rate:,.0f} steps/s" for env, rate in
                    provenance.get("raw_env_steps_per_second", {}).items()) or "not recorded"
  return [
      f"- command: `{provenance.get('command', 'not recorded')}`",
      f"- commit: `{provenance.get('commit', 'not recorded')}`; date: {provenance.get('date', 'not recorded')}",
      f"- seeds: {len(seeds)} ({seeds[0]}..{seeds[-1]}); machine: {provenance.get('cores', '?')} cores; "
      f"raw env step rates at the start: {rates}",
      _wall_time_line(provenance),
      "- scores per seed: iterations to first reach the experiment's threshold with the greedy policy (the "
      "success criterion, for the paper's experiments the task maximum; where fewer than half of the "
      "experiment's runs reach it, the fallback: the median over every run of its mean return over the last 10 "
      "iterations; a seed that never reaches it counts as the budget + 1); normalised area under the eval "
      "curve (the mean over iterations of (return - floor) / (criterion - floor), the floor a random policy's "
      "mean return; greedy and stochastic); IQMs and probabilities of improvement with 95% "
      "stratified-bootstrap intervals (rliable); methods share seeds (the same initialisation, the same env "
      "seeds), so their per-seed differences are paired"]
