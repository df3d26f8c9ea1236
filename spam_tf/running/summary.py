"""An experiment's summary: what summary.json holds per experiment, and its terminal table.

Built in the parent from the units' results (spam_tf/running/worker.py): the source's
and the target's success criterion and random-policy floor (spam_tf/running/tasks.py);
per stage (the source expert and each method's target runs) the eval curves of every
seed, iterations to the criterion (the paper's mean-curve rule and per seed), final
returns, the folders of each seed's unit and TensorBoard run (relative to
root_dir), and for the autoencoder, the genome and SPAM's start what they measured.
Curves are on the axis of equal target experience: a run that spent target steps
choosing its start (transfer.observation_map = 'auto') has its curves delayed by that
cost in iterations (start_cost_iterations_per_seed; spam_tf/rl/curves.delayed), so
every statistic the report computes from them includes it; its final returns are the
trained policy's. What the automatic map chose is in auto_map_per_seed.
"""
import os
import shutil

import numpy as np

from spam_tf import files

from spam_tf.analysis import statistics as st
from spam_tf.rl import curves
from spam_tf.running import experiment as experiment_lib
from spam_tf.spam import auto_map


def _stage_summary(results, criterion):
  """Aggregates per-seed train results (list over seeds) into one summary object, judged
  by the experiment's success criterion (not the one each unit logged; None: a source
  task without one, whose iterations to it are None)."""
  eval_iterations = results[0]["eval_iterations"]
  delays = [start_cost_iterations(r) for r in results]
  eval_returns = [curves.delayed(eval_iterations, r["eval_returns"], d) for r, d in zip(results, delays)]
  stochastic = [curves.delayed(range(len(r["stochastic_eval_returns"])), r["stochastic_eval_returns"], d)
                for r, d in zip(results, delays)]
  return {
      "env_id": results[0]["env_id"],
      "criterion": criterion,
      "iterations_to_convergence": (None if criterion is None else
                                    curves.iterations_to_convergence(eval_iterations, eval_returns, criterion)),
      "iterations_to_convergence_per_seed": [None if criterion is None else
                                             curves.first_reaching(eval_iterations, r, criterion)
                                             for r in eval_returns],
      "final_eval_return": float(np.mean([r["final_eval_return"] for r in results])),
      "final_eval_return_per_seed": [r["final_eval_return"] for r in results],
      "final_stochastic_eval_return": float(np.mean([r["stochastic_eval_returns"][-1]
                                                     for r in results])),
      "eval_iterations": results[0]["eval_iterations"],
      "eval_returns": eval_returns,
      "stochastic_eval_returns": stochastic,
      "env_steps_per_seed": [r["env_steps"] for r in results],
      "start_cost_iterations_per_seed": delays,
  }


def start_cost_iterations(result):
  """The iterations' worth of target steps a run spent choosing its start (an automatic
  map's probe: start_env_steps / batch_steps); 0 for every other run."""
  return result.get("start_env_steps", 0) / result["batch_steps"] if result.get("start_env_steps") else 0.0


def _method_summary(root_dir, method, target_units, outcomes, threshold):
  """One method's summary over seeds; target_units, outcomes: aligned with the seeds."""
  summary = _stage_summary([o["target"] for o in outcomes], threshold)
  summary.update(_dirs(root_dir, target_units))
  summary["saved_models"] = [os.path.join(d, "saved_model") for d in summary["run_dirs"]]
  summary["saved_model"] = summary["saved_models"][0]
  choices = [_auto_choice(os.path.join(root_dir, d)) for d in summary["run_dirs"]]
  if any(choices):
    summary["auto_map_per_seed"] = choices
  sparsity = [o["sparsity"] for o in outcomes]
  if all(x is not None for x in sparsity):
    for key in ("zero_ratio", "start_zero_ratio", "sparsity_ratio", "zeros_kept_fraction"):
      summary[key] = st.mean_or_none([x[key] for x in sparsity])
    summary["per_seed_sparsity"] = sparsity
  return summary


def _auto_choice(run_dir):
  """What an automatic map chose for one run (transfer.json), or None."""
  record = auto_map.recorded(run_dir)
  if record is None:
    return None
  return {key: record[key] for key in ("chosen", "map", "charged_env_steps", "reused_env_steps")} | {
      "verdict": record["decision"].get("verdict")}


def _dirs(root_dir, seed_units):
  """Where each seed's unit keeps its files and its TensorBoard run, relative to root_dir."""
  return {"run_dirs": [os.path.relpath(u.run_dir(root_dir), root_dir) for u in seed_units],
          "log_dirs": [os.path.relpath(u.log_dir(root_dir), root_dir) for u in seed_units]}


def summarize(root_dir, plan, results, tasks):
  """summary.json's dict for one experiment. plan: experiment.Plan; results: {unit: result};
  tasks: {env id: spam_tf.running.tasks.describe()} (criterion and random-policy floor)."""
  seeds, methods = plan.seeds, plan.methods
  source, target = plan.experiment.source, plan.experiment.target
  experts = [results[plan.experts[s]] for s in seeds]
  if tasks[target]["criterion"] is None:
    tasks = {**tasks, target: _fallback_criterion(plan, results, tasks[target])}
  summary = {"name": plan.experiment.name, "source": source, "target": target,
             "seeds": list(seeds), "methods": list(methods), "gin_files": list(plan.experiment.gin_files),
             "primary": [list(c) for c in experiment_lib.primary_comparisons(plan.experiment, methods)],
             "tasks": {"source": tasks[source], "target": tasks[target]},
             "source_expert": _stage_summary(experts, tasks[source]["criterion"])}
  summary["source_expert"].update(_dirs(root_dir, [plan.experts[s] for s in seeds]))
  if plan.autoencoders:
    autoencoders = [results[plan.autoencoders[s]] for s in seeds]
    summary["autoencoder"] = {
        "reconstruction_mse": float(np.mean([a["reconstruction_mse"] for a in autoencoders])),
        "zero_ratio": float(np.mean([a["zero_ratio"] for a in autoencoders])),
        "reconstruction_mse_per_seed": [a["reconstruction_mse"] for a in autoencoders],
        "zero_ratio_per_seed": [a["zero_ratio"] for a in autoencoders],
        **_dirs(root_dir, [plan.autoencoders[s] for s in seeds]),
    }
  if plan.genomes:
    summary["genome"] = _genome_summary(root_dir, plan, results)
  for method in methods:
    target_units = [plan.targets[(method, s)] for s in seeds]
    outcomes = [results[u] for u in target_units]
    summary[f"target_{method}"] = _method_summary(root_dir, method, target_units, outcomes,
                                                  tasks[target]["criterion"])
  if "spam" in methods and "scratch" in methods:
    spam_conv = summary["target_spam"]["iterations_to_convergence"]
    scratch_conv = summary["target_scratch"]["iterations_to_convergence"]
    summary["spam_converged_faster"] = (
        None if spam_conv is None and scratch_conv is None else
        scratch_conv is None or (spam_conv is not None and spam_conv < scratch_conv))
  return summary


def _fallback_criterion(plan, results, task):
  """A target task without a success criterion, judged by the fallback threshold of its
  experiment's runs (as statistics.threshold's: the median over every run of every method
  of its mean greedy return over the last 10 iterations), or, where that is no higher than
  a random policy (runs too short to learn), the best greedy return any run reached:
  describe()'s dict with that criterion and "criterion_from": "fallback"."""
  runs = np.asarray([results[u]["target"]["eval_returns"] for u in plan.targets.values()], np.float64)
  for criterion in (float(np.median(runs[:, -10:].mean(axis=1))), float(runs.max())):
    if criterion > task["floor"]:
      return {**task, "criterion": criterion, "criterion_from": "fallback"}
  raise ValueError(f"{plan.experiment.target} has no success criterion and no run returned more than a random "
                   "policy: set one with success_criterion.returns (the finished runs are kept)")


def write_events(root_dir, summary):
  """The experiment's own TensorBoard run, logs/experiments/<name>: its tasks' criteria and
  floors (Task/...), and each method's mean normalised greedy eval return per iteration
  (Normalized/<method>: 0 = a random policy, 1 = the criterion; comparable across tasks).
  Written afresh each time (a rerun may judge by another criterion); summary.json, written
  after it, says whether it is complete."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel  (the parent has it loaded)
  log_dir = os.path.join(root_dir, "logs", "experiments", summary["name"])
  shutil.rmtree(log_dir, ignore_errors=True)
  target = summary["tasks"]["target"]
  with files.tf_writes(f"TensorBoard events in {log_dir}"):
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
      for stage, task in summary["tasks"].items():
        if task["criterion"] is not None:  # a source task without one
          tf.summary.scalar(f"Task/{stage.title()}Criterion", task["criterion"], step=0)
        tf.summary.scalar(f"Task/{stage.title()}RandomFloor", task["floor"], step=0)
      for method in summary["methods"]:
        mean = np.mean(summary[f"target_{method}"]["eval_returns"], axis=0)
        for iteration, value in zip(summary[f"target_{method}"]["eval_iterations"], mean):
          tf.summary.scalar(f"Normalized/{method}",
                            st.normalize(value, target["criterion"], target["floor"]), step=iteration)
    writer.close()


def _genome_summary(root_dir, plan, results):
  """The genome autoencoders (one per seed) and the zoo they learned from."""
  genomes = [results[plan.genomes[s]] for s in plan.seeds]
  summary = {key: [g[key] for g in genomes] for key in (
      "held_out_relative_error", "held_out_mean_guess_error", "expert_relative_error", "train_relative_error",
      "dead_output_fraction", "best_epoch")}
  summary.update({key: genomes[0][key] for key in ("code_size", "compression_ratio", "dim",
                                                   "zoo_members", "held_out_members")})
  summary.update(_dirs(root_dir, [plan.genomes[s] for s in plan.seeds]))
  summary["config"] = plan.genomes[plan.seeds[0]].config  # what the report groups code sizes by
  summary["zoo"] = {"seeds": [u.seed for u in plan.zoo],
                    "final_eval_returns": [results[u]["final_eval_return"] for u in plan.zoo],
                    **_dirs(root_dir, plan.zoo)}
  return summary


def table(summary):
  """A short human-readable table of one experiment's summary."""
  def fmt(x):
    return "never" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))
  rows = [f"SPAM {summary['source']} -> {summary['target']} ({summary['name']}), seeds {summary['seeds']}",
          f"{'stage':21s} {'iters to conv (mean)':>21s} {'per seed':>18s} {'final return':>13s} "
          f"{'(stochastic)':>12s}"]
  for stage in ["source_expert"] + [f"target_{m}" for m in summary["methods"]]:
    s = summary[stage]
    per_seed = s["iterations_to_convergence_per_seed"]
    per_seed = str(per_seed) if len(per_seed) <= 4 else f"{sum(x is not None for x in per_seed)}/{len(per_seed)} reach"
    rows.append(f"{stage:21s} {fmt(s['iterations_to_convergence']):>21s} "
                f"{per_seed:>18s} {s['final_eval_return']:13.1f} "
                f"{s['final_stochastic_eval_return']:12.1f}")
  rows.append("success criteria: " + "; ".join(
      f"{t['env_id']} " + ("none" if t["criterion"] is None else f"{t['criterion']:g}")
      + (" (a fallback: the task has none)" if t.get("criterion_from") == "fallback" else "")
      + f" (a random policy: {t['floor']:.1f})"
      for stage, t in summary["tasks"].items() if stage == "target" or t["env_id"] != summary["target"]))
  if "autoencoder" in summary:
    ae = summary["autoencoder"]
    line = f"autoencoder: reconstruction mse {fmt(ae['reconstruction_mse'])}, zero ratio {fmt(ae['zero_ratio'])}"
    if "target_spam" in summary:
      spam = summary["target_spam"]
      line += (f"; after f2: sparsity ratio {fmt(spam['sparsity_ratio'])}, "
               f"zeros kept {fmt(spam['zeros_kept_fraction'])}")
    rows.append(line)
  if "genome" in summary:
    genome_summary = summary["genome"]
    rows.append(f"genome autoencoder: code size {genome_summary['code_size']} (compression "
                f"{genome_summary['compression_ratio']:.0f}x), relative error on validation zoo experts "
                f"{np.mean(genome_summary['held_out_relative_error']):.3f} (the zoo's mean weights: "
                f"{np.mean(genome_summary['held_out_mean_guess_error']):.3f}), on M* "
                f"{np.mean(genome_summary['expert_relative_error']):.3f}, dead outputs "
                f"{np.mean(genome_summary['dead_output_fraction']):.3f}")
  return "\n".join(rows)

