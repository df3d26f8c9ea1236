"""What a worker runs for one unit: `execute_unit`, and a runner per unit kind.

expert       f1 on the source (spam_tf.rl.train, gin scope 'source');
autoencoder  g on w(M*) (spam_tf.spam.autoencoder);
genome       the genome autoencoder on the zoo, and M*'s genome start points;
target       f2 on the target (scope 'target') from the unit's start point: the
             method's start vector (spam_tf.spam.start_points) carried onto the
             target network (spam_tf.spam.transfer), then the sparsity of the run.
Every runner resumes from what its run_dir holds, so a rerun continues a unit.
"""
import inspect
import os
import sys
import traceback

import gin
import tensorflow as tf

from spam_tf import files
from spam_tf.rl import checkpoints
from spam_tf.rl import snapshots
from spam_tf.rl import train
from spam_tf.rl import weights as weights_lib
from spam_tf.running import units as units_lib
from spam_tf.running.experiment import ExperimentError
from spam_tf.spam import auto_map
from spam_tf.spam import autoencoder
from spam_tf.spam import genome as genome_lib
from spam_tf.spam import mapping
from spam_tf.spam import metrics
from spam_tf.spam import start_points
from spam_tf.spam import transfer
from spam_tf.terminal import console
from spam_tf.terminal.console import first_line

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
      # Every result.json records the code that made it (commit, and whether it was dirty)
      # and the Ray node that ran it.
      record = {"code": worker_state.get("code"), "node": _node_id()}
      return _RUNNERS[unit.kind](root_dir, unit, record, *dep_results)
  except (ValueError, FloatingPointError, train.TrainingDiverged, checkpoints.CorruptCheckpoint) as e:
    raise ExperimentError(first_line(e)) from None  # EnvError, TransferError are ValueErrors
  except OSError as e:  # full disk, file size limit, permissions: the user's to fix
    raise ExperimentError(f"file error: {e}") from None
  except Exception:  # pylint: disable=broad-except
    raise RuntimeError(f"{unit.name} failed:\n" + traceback.format_exc()) from None


def _node_id():
  """The id of the Ray node this worker runs on, or None outside Ray (in-process)."""
  if "ray" not in sys.modules or not sys.modules["ray"].is_initialized():
    return None
  return sys.modules["ray"].get_runtime_context().get_node_id()


def stage_name(unit):
  """source_expert, autoencoder, genome or target_<method>: the unit's role in an experiment."""
  return {"expert": "source_expert", "autoencoder": "autoencoder", "genome": "genome"}.get(
      unit.kind, f"target_{unit.method}")


def _train(root_dir, unit, scope, hparams, record, start_fn=None):
  with gin.config_scope(scope):
    return train.train_eval(unit.env_id, unit.run_dir(root_dir), unit.log_dir(root_dir), unit.seed,
                            start_fn=start_fn, label=f"seed {unit.seed} {stage_name(unit)}",
                            hparams={**hparams, "seed": unit.seed, "stage": stage_name(unit)},
                            record=record)


def _run_expert(root_dir, unit, record):
  return _train(root_dir, unit, "source",
                {"method": "expert", "source": unit.env_id, "target": unit.env_id}, record)


def _run_autoencoder(root_dir, unit, record, expert_result):
  """g on w(M*): the reconstruction W_SPAM that spam and the controls measure against."""
  del expert_result  # read from its files
  expert_dir = unit.deps[0].run_dir(root_dir)
  return autoencoder.train_autoencoder(snapshots.load(expert_dir, "final")[None],
                                       unit.run_dir(root_dir), unit.log_dir(root_dir), unit.seed,
                                       record=record)


def _run_genome(root_dir, unit, record, expert_result, *zoo_results):
  """The genome autoencoder on the zoo (deps after the expert), and this seed's genome
  start points from w(M*) of the expert (deps[0], never in the zoo)."""
  del zoo_results  # read from their files
  training, held_out = _zoo_dirs(root_dir, unit.deps[1:])
  expert = snapshots.load(unit.deps[0].run_dir(root_dir), "final")
  return genome_lib.train_genome(training, held_out, _shapes(expert_result), expert,
                                 unit.run_dir(root_dir), unit.log_dir(root_dir), unit.seed, record=record)


def _zoo_dirs(root_dir, zoo_units):
  """The zoo experts' run dirs: (training, held out), by gin's zoo()."""
  train_seeds, _ = genome_lib.zoo()
  dirs = [(u.run_dir(root_dir), u.seed in train_seeds) for u in zoo_units]
  return [d for d, t in dirs if t], [d for d, t in dirs if not t]


def _shapes(expert_result):
  return [tuple(s) for s in expert_result["weight_shapes"]]


def _output_activation():
  default = inspect.signature(autoencoder.build_autoencoder).parameters["output_activation"].default
  return gin.get_bindings("build_autoencoder").get("output_activation", default)


def _start_inputs(root_dir, unit, expert_result):
  """What the unit's start-point method may read: M* and what its other deps hold (its
  autoencoder unit's reconstruction, its genome unit's starts, the zoo's mean, or
  nothing more for a method that reads only the expert)."""
  expert_dir, reads = unit.deps[0].run_dir(root_dir), start_points.reads(unit.method)
  inputs = start_points.StartInputs(snapshots.load(expert_dir, "final"), unit.seed,
                                    output_activation=_output_activation())
  if reads == "autoencoder":
    inputs.reconstruction = autoencoder.load_reconstruction(unit.deps[1].run_dir(root_dir))
  elif reads == "genome":
    inputs.genome = genome_lib.load_starts(unit.deps[1].run_dir(root_dir))
  elif reads == "zoo":  # the zoo's experts
    inputs.zoo_mean = genome_lib.zoo_mean_start(_zoo_dirs(root_dir, unit.deps[1:])[0], _shapes(expert_result))
  return inputs


def _run_target(root_dir, unit, record, expert_result=None, *helper_results):
  """f2 on the target from the unit's start point; {"target": result, "sparsity": ...}."""
  del helper_results  # read from their files
  hparams = {"method": unit.method, "source": unit.source or "none", "target": unit.env_id}
  if not unit.source:
    return {"target": _train(root_dir, unit, "target", hparams, record), "sparsity": None}
  start = start_points.start_vector(unit.method, _start_inputs(root_dir, unit, expert_result))
  source_arrays = weights_lib.unflatten(start, _shapes(expert_result))
  run_dir = unit.run_dir(root_dir)

  def start_fn(target_discrete, target_init, policy_of, collect_fresh):
    if auto_map.requested():
      return _auto_start(unit, run_dir, source_arrays, expert_result["discrete"], target_init,
                         target_discrete, policy_of, collect_fresh)
    if auto_map.requested("twin"):  # a twin target's true map (its sign flips too)
      arrays, how = auto_map.transfer_with(source_arrays, expert_result["discrete"], target_init,
                                           target_discrete, auto_map.twin_map(unit.env_id))
      how = {**how, "twin": auto_map.twin_map(unit.env_id).as_json()}
    else:
      arrays, how = transfer.transfer(source_arrays, expert_result["discrete"], target_init,
                                      target_discrete)
    files.write_json(os.path.join(run_dir, auto_map.TRANSFER_FILE), how)
    return arrays, 0, []

  os.makedirs(run_dir, exist_ok=True)
  result = _train(root_dir, unit, "target", hparams, record, start_fn)
  sparsity = _sparsity(root_dir, unit, start, result)
  files.write_json(os.path.join(run_dir, units_lib.SPARSITY_FILE), sparsity)
  return {"target": result, "sparsity": sparsity}


def _auto_start(unit, run_dir, source_arrays, source_discrete, target_init, target_discrete,
                policy_of, collect_fresh):
  """The automatic map's start (spam_tf/spam/auto_map.py), its charged target steps and the
  episodes iteration 1 reuses; a resumed unit rebuilds the start its first run chose
  instead of probing again (and replays the reused episodes: they are seeded)."""
  record = auto_map.recorded(run_dir)
  if record is None:
    arrays, record, reused = auto_map.auto_map(unit.source, unit.env_id, unit.seed, source_arrays,
                                               source_discrete, target_init, target_discrete,
                                               policy_of, collect_fresh)
  elif record["chosen"] == auto_map.NOTHING:
    arrays = list(target_init)
    reused = collect_fresh(record["model_min_steps"]) if record["reused_env_steps"] else []
  else:
    chosen = None if record["map"] is None else mapping.Map.from_json(record["map"])
    arrays, _ = auto_map.transfer_with(source_arrays, source_discrete, target_init,
                                       target_discrete, chosen)
    reused = []
  files.write_json(os.path.join(run_dir, auto_map.TRANSFER_FILE), {"auto": record})
  return arrays, record["charged_env_steps"], reused


def _sparsity(root_dir, unit, source_start, result):
  """Zero ratio (Def. 4.1) of the start point, sparsity ratio (Def. 4.2), zeros kept."""
  run_dir = unit.run_dir(root_dir)
  start, final = snapshots.load(run_dir, "start"), snapshots.load(run_dir, "final")
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
