"""One experiment of Algorithm 1: its units' work (in workers) and its summary.

An experiment is (source, target, gin config, methods, seeds). Per seed s (every
unit of a seed uses seed s, so all target runs see the same environment seeds
and the same fresh initialisation), as units of spam_tf/units.py:
  expert       M* = f1(S)                            (gin scope 'source')
  autoencoder  g trained on w(M*), W_SPAM = g(w(M*))
  genome       the genome autoencoder on a zoo of other source experts, and
               the genome start points of M* (spam_tf/genome.py)
  target       M_TL = f2(T, start point of a method) (gin scope 'target')
with the methods of spam_tf/start_points.py: scratch (no source), spam
(w^-1(W_SPAM), the paper's), copy, prune, relu, relu_prune, noise, and
genome, genome_mean, genome_sample and their control zoo_mean.

spam_tf/sweep.py builds the units of one or many experiments and runs them on
spam_tf/engine.py; `execute_unit` is what a worker runs for one unit.
"""
import inspect
import os
import traceback

import gin
import numpy as np
import tensorflow as tf

from spam_tf import agents
from spam_tf import autoencoder
from spam_tf import console
from spam_tf import envs as envs_lib
from spam_tf import files
from spam_tf import genome
from spam_tf import metrics
from spam_tf import start_points
from spam_tf import statistics as st
from spam_tf import train
from spam_tf import transfer
from spam_tf import units as units_lib
from spam_tf import weights as weights_lib

METHODS = tuple(start_points.METHODS)
DEFAULT_METHODS = start_points.DEFAULT_METHODS
LOG_FILE = "spam_main.log"


class ExperimentError(ValueError):
  """Bad input or state that the user can fix (message is one line)."""


def parse_gin(gin_files, gin_bindings):
  """Parses configs; raises ExperimentError with a one-line reason on failure."""
  gin.clear_config()
  for path in gin_files:
    if not os.path.isfile(path):
      raise ExperimentError(f"config file not found: {path}")
  try:
    gin.parse_config_files_and_bindings(gin_files, gin_bindings)
  except Exception as e:  # pylint: disable=broad-except  (gin raises many types; all mean "bad config")
    raise ExperimentError(f"bad config: {first_line(e)}") from None


def first_line(error):
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


# --- worker side -----------------------------------------------------------

_worker = {"state": None}


def execute_unit(root_dir, unit, worker_state, *dep_results):
  """Runs one unit (in a Ray worker or this process) and returns its result.

  Gin and Keras are reset first and every unit seeds everything itself, so the
  result does not depend on what this process ran before. Errors come back as
  ExperimentError (one line, for the user) or RuntimeError (a bug, with its
  traceback): gin re-raises errors as dynamically made classes that cannot be
  pickled across processes.
  """
  if _worker["state"] != worker_state:
    console.setup_worker(worker_state)
    _worker["state"] = worker_state
  try:
    # A killed run's workers go on for a second or two (until they see their raylet
    # gone): a rerun's worker for the same unit waits, then resumes from (or reuses)
    # what they left, as every runner resumes from its run_dir.
    with files.waiting_lock(unit.lock_path(root_dir)):
      gin.clear_config()
      gin.parse_config(unit.config)
      tf.keras.backend.clear_session()
      units_lib.write_config(root_dir, unit)
      return _RUNNERS[unit.kind](root_dir, unit, *dep_results)
  except (ValueError, FloatingPointError, train.TrainingDiverged, train.CorruptCheckpoint) as e:
    raise ExperimentError(first_line(e)) from None  # EnvError, TransferError are ValueErrors
  except OSError as e:  # full disk, file size limit, permissions: the user's to fix
    raise ExperimentError(f"file error: {e}") from None
  except Exception:  # pylint: disable=broad-except
    raise RuntimeError(f"{unit.name} failed:\n" + traceback.format_exc()) from None


def stage_name(unit):
  """source_expert, autoencoder, genome or target_<method>: the unit's role in an experiment."""
  return {"expert": "source_expert", "autoencoder": "autoencoder", "genome": "genome"}.get(
      unit.kind, f"target_{unit.method}")


def _train(root_dir, unit, scope, hparams, start_fn=None):
  with gin.config_scope(scope):
    return train.train_eval(unit.env_id, unit.run_dir(root_dir), unit.log_dir(root_dir), unit.seed,
                            start_fn=start_fn, label=f"seed {unit.seed} {stage_name(unit)}",
                            hparams={**hparams, "seed": unit.seed, "stage": stage_name(unit)})


def _run_expert(root_dir, unit):
  return _train(root_dir, unit, "source",
                {"method": "expert", "source": unit.env_id, "target": unit.env_id})


def _run_autoencoder(root_dir, unit, expert_result):
  """g on w(M*): the reconstruction W_SPAM that spam and the controls measure against."""
  del expert_result  # read from its files
  expert_dir = unit.deps[0].run_dir(root_dir)
  return autoencoder.train_autoencoder(train.load_weights(expert_dir, "final")[None],
                                       unit.run_dir(root_dir), unit.log_dir(root_dir), unit.seed)


def _run_genome(root_dir, unit, expert_result, *zoo_results):
  """The genome autoencoder on the zoo (deps after the expert), and this seed's genome
  start points from w(M*) of the expert (deps[0], never in the zoo)."""
  del zoo_results  # read from their files
  training, held_out = _zoo_dirs(root_dir, unit.deps[1:])
  expert = train.load_weights(unit.deps[0].run_dir(root_dir), "final")
  return genome.train_genome(training, held_out, _shapes(expert_result), expert,
                             unit.run_dir(root_dir), unit.log_dir(root_dir), unit.seed)


def _zoo_dirs(root_dir, zoo_units):
  """The zoo experts' run dirs: (training, held out), by gin's zoo()."""
  train_seeds, _ = genome.zoo()
  dirs = [(u.run_dir(root_dir), u.seed in train_seeds) for u in zoo_units]
  return [d for d, t in dirs if t], [d for d, t in dirs if not t]


def _shapes(expert_result):
  return [tuple(s) for s in expert_result["weight_shapes"]]


def _output_activation():
  default = inspect.signature(autoencoder.build_autoencoder).parameters["output_activation"].default
  return gin.get_bindings("build_autoencoder").get("output_activation", default)


def _start_inputs(root_dir, unit, expert_result):
  """What the unit's start-point method may read: M* and what its other deps hold (its
  autoencoder unit's reconstruction, its genome unit's starts, or the zoo's mean)."""
  expert_dir, reads = unit.deps[0].run_dir(root_dir), start_points.reads(unit.method)
  inputs = start_points.StartInputs(train.load_weights(expert_dir, "final"), unit.seed,
                                    output_activation=_output_activation())
  if reads == "autoencoder":
    inputs.reconstruction = autoencoder.load_reconstruction(unit.deps[1].run_dir(root_dir))
  elif reads == "genome":
    inputs.genome = genome.load_starts(unit.deps[1].run_dir(root_dir))
  else:  # 'zoo': the zoo's experts
    inputs.zoo_mean = genome.zoo_mean_start(_zoo_dirs(root_dir, unit.deps[1:])[0], _shapes(expert_result))
  return inputs


def _run_target(root_dir, unit, expert_result=None, *helper_results):
  """f2 on the target from the unit's start point; {"target": result, "sparsity": ...}."""
  del helper_results  # read from their files
  hparams = {"method": unit.method, "source": unit.source or "none", "target": unit.env_id}
  if not unit.source:
    return {"target": _train(root_dir, unit, "target", hparams), "sparsity": None}
  start = start_points.start_vector(unit.method, _start_inputs(root_dir, unit, expert_result))
  source_arrays = weights_lib.unflatten(start, _shapes(expert_result))
  run_dir = unit.run_dir(root_dir)

  def start_fn(target_discrete, target_init):
    arrays, how = transfer.transfer(source_arrays, expert_result["discrete"], target_init,
                                    target_discrete)
    files.write_json(os.path.join(run_dir, "transfer.json"), how)
    return arrays

  os.makedirs(run_dir, exist_ok=True)
  result = _train(root_dir, unit, "target", hparams, start_fn)
  sparsity = _sparsity(root_dir, unit, start, result)
  files.write_json(os.path.join(run_dir, units_lib.SPARSITY_FILE), sparsity)
  return {"target": result, "sparsity": sparsity}


def _sparsity(root_dir, unit, source_start, result):
  """Zero ratio (Def. 4.1) of the start point, sparsity ratio (Def. 4.2), zeros kept."""
  run_dir = unit.run_dir(root_dir)
  start, final = train.load_weights(run_dir, "start"), train.load_weights(run_dir, "final")
  sparsity = {"zero_ratio": metrics.zero_ratio(source_start),
              "start_zero_ratio": metrics.zero_ratio(start),
              "final_zero_ratio": metrics.zero_ratio(final),
              "sparsity_ratio": metrics.sparsity_ratio(start, final),
              "zeros_kept_fraction": metrics.zeros_kept_fraction(start, final)}
  with files.tf_writes("TensorBoard events"):
    writer = tf.summary.create_file_writer(unit.log_dir(root_dir))
    with writer.as_default():
      tf.summary.scalar("Sparsity/ZeroRatio", sparsity["zero_ratio"], step=0)
      for key in ("sparsity_ratio", "zeros_kept_fraction"):
        if sparsity[key] is not None:
          tf.summary.scalar(f"Sparsity/{key.title().replace('_', '')}", sparsity[key],
                            step=result["iterations"])
    writer.flush()
  return sparsity


_RUNNERS = {"expert": _run_expert, "autoencoder": _run_autoencoder, "genome": _run_genome,
            "target": _run_target}


# --- parent side -----------------------------------------------------------

def check_transfer(source, target, expert_results):
  """Transfers fresh source-shaped weights into a fresh target network, before any
  training: a strategy or architecture that cannot fit fails now, not after hours
  of expert training. expert_results: {seed: result.json} of reused experts, or {}
  (then the source network comes from the gin config, scope 'source')."""
  def fresh(env_id, scope):
    env = envs_lib.make(env_id)
    obs_spec, act_spec = envs_lib.observation_spec(env), envs_lib.action_spec(env)
    env.close()
    with gin.config_scope(scope):
      _, net = agents.make_agent(obs_spec, act_spec)
    return weights_lib.get(net), bool(np.issubdtype(act_spec.dtype, np.integer))

  target_arrays, target_discrete = fresh(target, "target")
  if expert_results:
    sources = [([np.zeros(shape, np.float32) for shape in r["weight_shapes"]], r["discrete"])
               for r in expert_results.values()]
  else:
    sources = [fresh(source, "source")]
  for source_arrays, source_discrete in sources:
    with gin.config_scope("target"):  # as in run_target, where f2 calls it
      transfer.transfer(source_arrays, source_discrete, target_arrays, target_discrete)


def _stage_summary(results, convergence_return):
  """Aggregates per-seed train results (list over seeds) into one summary object."""
  eval_returns = [r["eval_returns"] for r in results]
  return {
      "env_id": results[0]["env_id"],
      "convergence_return": convergence_return,
      "iterations_to_convergence": metrics.iterations_to_convergence(
          results[0]["eval_iterations"], eval_returns, convergence_return),
      "iterations_to_convergence_per_seed": [r["iterations_to_convergence"] for r in results],
      "final_eval_return": float(np.mean([r["final_eval_return"] for r in results])),
      "final_eval_return_per_seed": [r["final_eval_return"] for r in results],
      "final_stochastic_eval_return": float(np.mean([r["stochastic_eval_returns"][-1]
                                                     for r in results])),
      "eval_iterations": results[0]["eval_iterations"],
      "eval_returns": eval_returns,
      "stochastic_eval_returns": [r["stochastic_eval_returns"] for r in results],
      "env_steps_per_seed": [r["env_steps"] for r in results],
  }


def _method_summary(root_dir, method, target_units, outcomes, threshold):
  """One method's summary over seeds; target_units, outcomes: aligned with the seeds."""
  summary = _stage_summary([o["target"] for o in outcomes], threshold)
  summary.update(_dirs(root_dir, target_units))
  summary["saved_models"] = [os.path.join(d, "saved_model") for d in summary["run_dirs"]]
  summary["saved_model"] = summary["saved_models"][0]
  sparsity = [o["sparsity"] for o in outcomes]
  if all(x is not None for x in sparsity):
    for key in ("zero_ratio", "start_zero_ratio", "sparsity_ratio", "zeros_kept_fraction"):
      summary[key] = st.mean_or_none([x[key] for x in sparsity])
    summary["per_seed_sparsity"] = sparsity
  return summary


def _dirs(root_dir, seed_units):
  """Where each seed's unit keeps its files and its TensorBoard run, relative to root_dir."""
  return {"run_dirs": [os.path.relpath(u.run_dir(root_dir), root_dir) for u in seed_units],
          "log_dirs": [os.path.relpath(u.log_dir(root_dir), root_dir) for u in seed_units]}


def summarize(root_dir, plan, results):
  """summary.json's dict for one experiment. plan: sweep.Plan; results: {unit: result}."""
  seeds, methods = plan.seeds, plan.methods
  experts = [results[plan.experts[s]] for s in seeds]
  summary = {"name": plan.experiment.name, "source": plan.experiment.source,
             "target": plan.experiment.target, "seeds": list(seeds), "methods": list(methods),
             "source_expert": _stage_summary(experts, experts[0]["convergence_return"])}
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
                                                  outcomes[0]["target"]["convergence_return"])
  if "spam" in methods and "scratch" in methods:
    spam_conv = summary["target_spam"]["iterations_to_convergence"]
    scratch_conv = summary["target_scratch"]["iterations_to_convergence"]
    summary["spam_converged_faster"] = (
        None if spam_conv is None and scratch_conv is None else
        scratch_conv is None or (spam_conv is not None and spam_conv < scratch_conv))
  return summary


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


def check_methods(methods, allow_empty=False):
  """Raises ExperimentError for an unknown method, or an empty list unless allowed
  (an experiment that only trains experts, e.g. the paper's Figure 3)."""
  unknown = [m for m in methods if m not in METHODS]
  if unknown:
    raise ExperimentError(f"unknown start-point method(s) {unknown}; choose from {', '.join(METHODS)}")
  if not methods and not allow_empty:
    raise ExperimentError("--methods is empty")


def report(summary):
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

