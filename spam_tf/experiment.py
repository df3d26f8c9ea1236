"""The SPAM experiment: Algorithm 1 for several seeds, beside its controls.

Per seed s (every stage of a seed uses seed s, so all target runs see the same
environment seeds and the same fresh initialisation):
  source_expert    M* = f1(S)                           (gin scope 'source')
  autoencoder      g trained on w(M*), W_SPAM = g(w(M*))
  target_<method>  M_TL = f2(T, start point of method)  (gin scope 'target')
with the methods of spam_tf/start_points.py: scratch (no source), spam
(w^-1(W_SPAM), the paper's), copy, prune, relu, relu_prune, noise.

Layout under root_dir:
  config.gin, run.json     the effective config and flags (a rerun must match)
  runs/seed_<s>/<stage>/   checkpoints/, result.json, policy_weights.npz, saved_model/
  logs/seed_<s>/<stage>/   TensorBoard events (one run per stage and seed)
  summary.json             written last, atomically: present means complete
  spam_main.log            the detail: per-iteration lines, TensorFlow's own output

Stages whose result.json exists are not rerun; an interrupted stage resumes
from its latest checkpoint. Jobs run in worker processes, two at a time by
default (one per core), each killed with the parent (PR_SET_PDEATHSIG).
"""
import concurrent.futures as cf
import ctypes
import inspect
import multiprocessing
import os
import signal
import traceback

from absl import logging
import gin
import numpy as np
import tensorflow as tf

from spam_tf import agents
from spam_tf import autoencoder
from spam_tf import console
from spam_tf import envs as envs_lib
from spam_tf import files
from spam_tf import metrics
from spam_tf import progress
from spam_tf import start_points
from spam_tf import train
from spam_tf import transfer
from spam_tf import weights as weights_lib

METHODS = tuple(start_points.METHODS)
LOG_FILE = "spam_main.log"


class ExperimentError(ValueError):
  """Bad input or state that the user can fix (message is one line)."""


def stage_dir(root_dir, seed, stage):
  return os.path.join(root_dir, "runs", f"seed_{seed}", stage)


def log_dir(root_dir, seed, stage):
  return os.path.join(root_dir, "logs", f"seed_{seed}", stage)


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


# --- worker side -----------------------------------------------------------

def _die_with_parent(parent_pid):
  """Linux: SIGKILL this worker when the parent dies, even by SIGKILL.

  A parent killed while the worker was still importing TensorFlow (before
  this runs) has already handed the worker to init: then exit at once, or
  the orphan would hold the parent's stdout open and write into root_dir.
  """
  try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    pass
  if os.getppid() != parent_pid:
    os._exit(1)


def _worker_init(parent_pid, gin_files, gin_bindings, console_state):
  _die_with_parent(parent_pid)
  console.setup_worker(console_state)
  parse_gin(gin_files, gin_bindings)


def first_line(error):
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def _job(fn, *args):
  """Runs a stage in a worker; errors come back to the parent picklable.

  (Gin re-raises errors from configurables as dynamically made subclasses,
  which cannot be pickled across processes.)
  """
  try:
    return fn(*args)
  except (ValueError, FloatingPointError, train.TrainingDiverged, train.CorruptCheckpoint) as e:
    raise ExperimentError(first_line(e)) from None  # EnvError, TransferError are ValueErrors
  except OSError as e:  # full disk, file size limit, permissions: the user's to fix
    raise ExperimentError(f"file error: {e}") from None
  except Exception:  # pylint: disable=broad-except
    raise RuntimeError("a stage failed:\n" + traceback.format_exc()) from None


def run_trainer(root_dir, env_id, seed, stage, scope, hparams, start_fn=None):
  with gin.config_scope(scope):
    return train.train_eval(env_id, stage_dir(root_dir, seed, stage),
                            log_dir(root_dir, seed, stage), seed, start_fn=start_fn,
                            label=f"seed {seed} {stage}", hparams={**hparams, "seed": seed,
                                                                 "stage": stage})


def run_source_expert(root_dir, source, seed):
  return run_trainer(root_dir, source, seed, "source_expert", "source",
                     {"method": "expert", "source": source, "target": source})


def run_autoencoder(root_dir, seed, expert_dir):
  """g on w(M*): the reconstruction W_SPAM that spam and the controls measure against."""
  ae_dir = stage_dir(root_dir, seed, "autoencoder")
  result = autoencoder.train_autoencoder(train.load_weights(expert_dir, "final")[None], ae_dir,
                                         log_dir(root_dir, seed, "autoencoder"), seed)
  return {**result, "zero_ratio": metrics.zero_ratio(autoencoder.load_reconstruction(ae_dir))}


def _output_activation():
  default = inspect.signature(autoencoder.build_autoencoder).parameters["output_activation"].default
  return gin.get_bindings("build_autoencoder").get("output_activation", default)


def run_target(root_dir, source, target, seed, method, expert_dir):
  """f2 on the target from `method`'s start point; {"target": result, "sparsity": ...}."""
  stage = f"target_{method}"
  hparams = {"method": method, "source": source, "target": target}
  if method == "scratch":
    return {"target": run_trainer(root_dir, target, seed, stage, "target", hparams),
            "sparsity": None}
  expert = files.read_json(os.path.join(expert_dir, train.RESULT_FILE))
  start = start_points.start_vector(
      method, train.load_weights(expert_dir, "final"),
      autoencoder.load_reconstruction(stage_dir(root_dir, seed, "autoencoder")),
      _output_activation(), seed)
  source_arrays = weights_lib.unflatten(start, [tuple(shape) for shape in expert["weight_shapes"]])
  run_dir = stage_dir(root_dir, seed, stage)

  def start_fn(target_discrete, target_init):
    arrays, how = transfer.transfer(source_arrays, expert["discrete"], target_init, target_discrete)
    files.write_json(os.path.join(run_dir, "transfer.json"), how)
    return arrays

  os.makedirs(run_dir, exist_ok=True)
  result = run_trainer(root_dir, target, seed, stage, "target", hparams, start_fn)
  return {"target": result, "sparsity": _sparsity(root_dir, seed, stage, start, result)}


def _sparsity(root_dir, seed, stage, source_start, result):
  """Zero ratio (Def. 4.1) of the start point, sparsity ratio (Def. 4.2), zeros kept."""
  run_dir = stage_dir(root_dir, seed, stage)
  start, final = train.load_weights(run_dir, "start"), train.load_weights(run_dir, "final")
  sparsity = {"zero_ratio": metrics.zero_ratio(source_start),
              "start_zero_ratio": metrics.zero_ratio(start),
              "final_zero_ratio": metrics.zero_ratio(final),
              "sparsity_ratio": metrics.sparsity_ratio(start, final),
              "zeros_kept_fraction": metrics.zeros_kept_fraction(start, final)}
  with files.tf_writes("TensorBoard events"):
    writer = tf.summary.create_file_writer(log_dir(root_dir, seed, stage))
    with writer.as_default():
      tf.summary.scalar("Sparsity/ZeroRatio", sparsity["zero_ratio"], step=0)
      for key in ("sparsity_ratio", "zeros_kept_fraction"):
        if sparsity[key] is not None:
          tf.summary.scalar(f"Sparsity/{key.title().replace('_', '')}", sparsity[key],
                            step=result["iterations"])
    writer.flush()
  return sparsity


# --- parent side -----------------------------------------------------------

def _check_transfer(source, target, expert_results):
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


def _check_expert_dir(expert_root, seed, source):
  path = stage_dir(expert_root, seed, "source_expert")
  result_path = os.path.join(path, train.RESULT_FILE)
  if not os.path.isfile(result_path):
    raise ExperimentError(f"no finished source expert for seed {seed} at {path}")
  try:
    result = files.read_json(result_path)
    weights_lib.unflatten(train.load_weights(path, "final"), result["weight_shapes"])
  except Exception as e:  # pylint: disable=broad-except  (json, zip, npz, key or shape trouble)
    raise ExperimentError(f"corrupt source expert at {path}: {first_line(e)}") from None
  if result.get("env_id") != source:
    raise ExperimentError(f"the expert at {path} was trained on {result.get('env_id')}, not {source}")
  return path


def _guard_root(root_dir, run_spec, config_text):
  """Refuses to mix a new config into a root_dir that holds another run's results."""
  run_path = os.path.join(root_dir, "run.json")
  if os.path.exists(run_path):
    previous = files.read_json(run_path)
    with open(os.path.join(root_dir, "config.gin")) as f:
      previous_config = f.read()
    if previous != run_spec or previous_config != config_text:
      raise ExperimentError(f"{root_dir} holds a run with other flags or config; "
                            "use a new --root_dir (finished results are left untouched)")
  files.write_text(os.path.join(root_dir, "config.gin"), config_text)
  files.write_json(run_path, run_spec)


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


def _mean_or_none(values):
  values = [v for v in values if v is not None]
  return float(np.mean(values)) if values else None


def _method_summary(root_dir, seeds, method, outcomes, threshold):
  """One method's summary over seeds; outcomes: run_target's dicts, aligned with seeds."""
  summary = _stage_summary([o["target"] for o in outcomes], threshold)
  stage = f"target_{method}"
  summary["saved_models"] = [os.path.relpath(os.path.join(stage_dir(root_dir, s, stage), "saved_model"),
                                             root_dir) for s in seeds]
  summary["saved_model"] = summary["saved_models"][0]
  sparsity = [o["sparsity"] for o in outcomes]
  if all(x is not None for x in sparsity):
    for key in ("zero_ratio", "start_zero_ratio", "sparsity_ratio", "zeros_kept_fraction"):
      summary[key] = _mean_or_none([x[key] for x in sparsity])
    summary["per_seed_sparsity"] = sparsity
  return summary


def summarize(root_dir, source, target, seeds, methods, experts, autoencoders, targets):
  """Builds summary.json's dict. experts, autoencoders: per-seed lists aligned with seeds
  (autoencoders empty when only scratch ran); targets: {method: [run_target dict per seed]}."""
  threshold_target = targets[methods[0]][0]["target"]["convergence_return"]
  summary = {"source": source, "target": target, "seeds": list(seeds), "methods": list(methods),
             "config": "config.gin",
             "source_expert": _stage_summary(experts, experts[0]["convergence_return"])}
  if autoencoders:
    summary["autoencoder"] = {
        "reconstruction_mse": float(np.mean([a["reconstruction_mse"] for a in autoencoders])),
        "zero_ratio": float(np.mean([a["zero_ratio"] for a in autoencoders])),
        "reconstruction_mse_per_seed": [a["reconstruction_mse"] for a in autoencoders],
        "zero_ratio_per_seed": [a["zero_ratio"] for a in autoencoders],
    }
  for method in methods:
    summary[f"target_{method}"] = _method_summary(root_dir, seeds, method, targets[method],
                                                  threshold_target)
  if "spam" in methods and "scratch" in methods:
    spam_conv = summary["target_spam"]["iterations_to_convergence"]
    scratch_conv = summary["target_scratch"]["iterations_to_convergence"]
    summary["spam_converged_faster"] = (
        None if spam_conv is None and scratch_conv is None else
        scratch_conv is None or (spam_conv is not None and spam_conv < scratch_conv))
  summary.update({"logs": "logs", "log": LOG_FILE})
  return summary


def check_methods(methods):
  """Raises ExperimentError for an empty or unknown method list."""
  unknown = [m for m in methods if m not in METHODS]
  if unknown or not methods:
    raise ExperimentError(f"unknown start-point method(s) {unknown}; choose from {', '.join(METHODS)}"
                          if unknown else "--methods is empty")


def run(source, target, root_dir, seeds, gin_files=(), gin_bindings=(),
        source_expert_dir=None, workers=2, methods=METHODS):
  """Runs (or resumes) the whole experiment; returns the summary dict."""
  methods = list(methods)
  check_methods(methods)
  for env_id in (source, target):
    envs_lib.make(env_id).close()
  parse_gin(gin_files, gin_bindings)
  try:
    os.makedirs(root_dir, exist_ok=True)
    probe = os.path.join(root_dir, ".write-test")
    open(probe, "w").close()
    os.remove(probe)
  except OSError as e:
    raise ExperimentError(f"cannot write to root_dir {root_dir}: {e.strerror}") from None
  run_spec = {"source": source, "target": target, "seeds": list(seeds),
              "source_expert_dir": source_expert_dir, "methods": methods}
  for scope in ("source", "target"):
    train.check_config(scope)
  with files.RootLock(root_dir):
    expert_dirs = {s: (_check_expert_dir(source_expert_dir, s, source) if source_expert_dir
                       else stage_dir(root_dir, s, "source_expert")) for s in seeds}
    _check_transfer(source, target, {s: files.read_json(os.path.join(d, train.RESULT_FILE))
                                     for s, d in expert_dirs.items() if source_expert_dir})
    _guard_root(root_dir, run_spec, gin.config_str())
    console.log_to(os.path.join(root_dir, LOG_FILE))
    logging.info("spam_main %s -> %s, seeds %s, methods %s, root_dir %s", source, target,
                 list(seeds), methods, root_dir)
    experts, autoencoders, targets = _run_jobs(root_dir, source, target, seeds, methods, expert_dirs,
                                               list(gin_files), list(gin_bindings), workers)
    summary = summarize(root_dir, source, target, seeds, methods, experts, autoencoders, targets)
    files.write_json(os.path.join(root_dir, "summary.json"), summary)
  return summary


def _units(root_dir, seeds, methods, expert_dirs):
  """What the progress display follows: every stage this run trains, per seed."""
  units = []
  for s in seeds:
    if expert_dirs[s] == stage_dir(root_dir, s, "source_expert"):
      units.append(progress.Unit(f"seed {s} source_expert", expert_dirs[s],
                                 train.configured("source")["iterations"]))
    if set(methods) - {"scratch"}:
      units.append(progress.Unit(f"seed {s} autoencoder", stage_dir(root_dir, s, "autoencoder"), 0))
    for method in methods:
      units.append(progress.Unit(f"seed {s} target_{method}", stage_dir(root_dir, s, f"target_{method}"),
                                 train.configured("target")["iterations"]))
  return units


def _run_jobs(root_dir, source, target, seeds, methods, expert_dirs, gin_files, gin_bindings,
              workers):
  """Schedules each seed's scratch run at once, its expert (unless reused), then its
  autoencoder once the expert is done, then the other methods once the autoencoder is.
  Returns (experts [seed], autoencoders [seed] or [], {method: [run_target dict per seed]})."""
  context = multiprocessing.get_context("spawn")
  needs_autoencoder = bool(set(methods) - {"scratch"})
  experts, autoencoders, targets = {}, {}, {}
  display = progress.Display(_units(root_dir, seeds, methods, expert_dirs), console.stream(),
                             f"{source} -> {target}", console.log_path())
  with cf.ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context,
                              initializer=_worker_init,
                              initargs=(os.getpid(), gin_files, gin_bindings,
                                        console.worker_state())) as pool:
    pending = {}

    def submit(kind, seed, fn, *args):
      pending[pool.submit(_job, fn, *args)] = (kind, seed)

    def expert_done(seed, result):
      experts[seed] = result
      if needs_autoencoder:
        submit("autoencoder", seed, run_autoencoder, root_dir, seed, expert_dirs[seed])

    for s in seeds:
      if expert_dirs[s] == stage_dir(root_dir, s, "source_expert"):
        submit("expert", s, run_source_expert, root_dir, source, s)
      else:
        expert_done(s, files.read_json(os.path.join(expert_dirs[s], train.RESULT_FILE)))
      if "scratch" in methods:
        submit("scratch", s, run_target, root_dir, source, target, s, "scratch", expert_dirs[s])
    try:
      while pending:
        done, _ = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
        display.refresh()
        for future in done:
          kind, s = pending.pop(future)
          result = future.result()
          if kind == "expert":
            expert_done(s, result)
          elif kind == "autoencoder":
            autoencoders[s] = result
            for method in methods:
              if method != "scratch":
                submit(method, s, run_target, root_dir, source, target, s, method, expert_dirs[s])
          else:
            targets[(kind, s)] = result
    except BaseException:
      # Stop the other jobs now rather than let them run to the end: their
      # finished iterations are checkpointed, so a rerun loses nothing.
      workers = list((getattr(pool, "_processes", None) or {}).values())
      pool.shutdown(wait=False, cancel_futures=True)
      for process in workers:
        process.terminate()
      raise
    finally:
      display.close()
  return ([experts[s] for s in seeds], [autoencoders[s] for s in seeds if s in autoencoders],
          {m: [targets[(m, s)] for s in seeds] for m in methods})


def report(summary, root_dir):
  """A short human-readable table of summary.json."""
  def fmt(x):
    return "never" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))
  rows = [f"SPAM {summary['source']} -> {summary['target']}, seeds {summary['seeds']}",
          f"{'stage':21s} {'iters to conv (mean)':>21s} {'per seed':>18s} {'final return':>13s} "
          f"{'(stochastic)':>12s}"]
  for stage in ["source_expert"] + [f"target_{m}" for m in summary["methods"]]:
    s = summary[stage]
    rows.append(f"{stage:21s} {fmt(s['iterations_to_convergence']):>21s} "
                f"{str(s['iterations_to_convergence_per_seed']):>18s} {s['final_eval_return']:13.1f} "
                f"{s['final_stochastic_eval_return']:12.1f}")
  if "autoencoder" in summary:
    ae = summary["autoencoder"]
    line = f"autoencoder: reconstruction mse {fmt(ae['reconstruction_mse'])}, zero ratio {fmt(ae['zero_ratio'])}"
    if "target_spam" in summary:
      spam = summary["target_spam"]
      line += (f"; after f2: sparsity ratio {fmt(spam['sparsity_ratio'])}, "
               f"zeros kept {fmt(spam['zeros_kept_fraction'])}")
    rows.append(line)
  rows.append(f"summary: {os.path.join(root_dir, 'summary.json')}   "
              f"log: {os.path.join(root_dir, summary['log'])}")
  rows.append(f"TensorBoard: tensorboard --logdir {os.path.join(root_dir, 'logs')}")
  return "\n".join(rows)
