"""Sweeps: experiments x methods x seeds as one graph of shared units, run by spam_tf/engine.py.

A sweep file (configs/sweeps/*.gin) binds
  sweep.experiments  a list of dicts: name, source, target and optionally gin_files,
                     gin_bindings (the experiment's config) and methods (default: the sweep's);
  sweep.methods      the start-point methods (default: start_points.DEFAULT_METHODS, the
                     paper's and its controls; the genome methods are named explicitly);
  sweep.seeds        how many seeds (0..N-1; bin/spam_sweep --seeds overrides);
  sweep.gin_files, sweep.gin_bindings   applied to every experiment after its own
                     (e.g. configs/smoke.gin for a tiny version of the same sweep).
bin/spam_main runs a sweep of one experiment made from its flags.

Each experiment becomes units (spam_tf/units.py) keyed by what determines them, so
a unit several experiments need is trained once. Everything is checked before
anything is written: envs, configs, methods, and that each transfer fits.

Layout under root_dir:
  units/, logs/     every unit's files and TensorBoard run (spam_tf/units.py)
  config.gin        each experiment's effective config; run.json the sweep's
                    shape (a rerun must match it, except for the seeds: units are
                    reused, so more seeds only add units)
  summary.json      written last, atomically: present means complete
  <log file>        the detail: per-iteration lines, TensorFlow's and Ray's output
"""
import dataclasses
import fnmatch
import glob
import json
import os
import subprocess
import sys
import time
from typing import Optional, Tuple

from absl import logging
import gin
import numpy as np

from spam_tf import bench
from spam_tf import console
from spam_tf import engine
from spam_tf import envs as envs_lib
from spam_tf import experiment as experiment_lib
from spam_tf import files
from spam_tf import genome as genome_lib
from spam_tf import progress
from spam_tf import start_points
from spam_tf import train
from spam_tf import units as units_lib
from spam_tf import weights as weights_lib
from spam_tf.experiment import ExperimentError

METHODS = experiment_lib.DEFAULT_METHODS
SWEEP_LOG_FILE = "spam_sweep.log"
_EXPERIMENT_KEYS = {"name", "source", "target", "gin_files", "gin_bindings", "methods"}


@dataclasses.dataclass(frozen=True)
class Experiment:
  name: str
  source: str
  target: str
  gin_files: Tuple[str, ...] = ()
  gin_bindings: Tuple[str, ...] = ()
  methods: Optional[Tuple[str, ...]] = None  # None: the sweep's
  source_expert_dir: Optional[str] = None    # reuse the experts of another root_dir


@dataclasses.dataclass
class Plan:
  """An experiment's units. experts/autoencoders/genomes: {seed: Unit}; targets:
  {(method, seed): Unit}; zoo: the experts the genome units learn from (and zoo_mean
  averages)."""
  experiment: Experiment
  seeds: list
  methods: list
  config: str
  experts: dict
  autoencoders: dict
  targets: dict
  iterations: dict  # unit kind -> training iterations (for the progress display)
  genomes: dict = dataclasses.field(default_factory=dict)
  zoo: list = dataclasses.field(default_factory=list)

  def units(self):
    return [*self.experts.values(), *self.zoo, *self.autoencoders.values(), *self.genomes.values(),
            *self.targets.values()]


@gin.configurable("sweep")
def _sweep(experiments=(), methods=METHODS, seeds=10, gin_files=(), gin_bindings=()):
  return {"experiments": list(experiments), "methods": list(methods), "seeds": seeds,
          "gin_files": list(gin_files), "gin_bindings": list(gin_bindings)}


def load(path, seeds=None):
  """Reads a sweep file: (experiments [Experiment], methods, seeds, gin_files, gin_bindings)."""
  experiment_lib.parse_gin([path], [])
  spec = _sweep()
  others = [name for _, name, _ in units_lib.sections(gin.config_str()) if name not in ("sweep", "")]
  gin.clear_config()
  if others:  # they would be dropped: a sweep file's own bindings never reach a unit
    raise ExperimentError(f"{path} binds {', '.join(sorted(set(others)))}: a sweep file binds only sweep.*; "
                          f"put other bindings in sweep.gin_bindings or an experiment's gin_bindings")
  experiments = []
  for entry in spec["experiments"]:
    if not isinstance(entry, dict) or not {"name", "source", "target"} <= set(entry) \
        or set(entry) - _EXPERIMENT_KEYS:
      raise ExperimentError(f"{path}: each experiment is a dict with name, source, target and "
                            f"optionally gin_files, gin_bindings, methods; got {entry!r}")
    methods = entry.get("methods")
    experiments.append(Experiment(entry["name"], entry["source"], entry["target"],
                                  tuple(entry.get("gin_files", ())),
                                  tuple(entry.get("gin_bindings", ())),
                                  None if methods is None else tuple(methods)))
  if not experiments:
    raise ExperimentError(f"{path} lists no experiments (sweep.experiments)")
  seeds = seeds if seeds is not None else list(range(spec["seeds"]))
  return experiments, spec["methods"], seeds, spec["gin_files"], spec["gin_bindings"]


def select(experiments, patterns):
  """The experiments whose name matches one of the shell-style patterns (all when
  patterns is empty), in the sweep file's order. Raises ExperimentError for a pattern
  that matches none."""
  if not patterns:
    return list(experiments)
  names = [e.name for e in experiments]
  for pattern in patterns:
    if not fnmatch.filter(names, pattern):
      raise ExperimentError(f"--experiments: {pattern!r} matches no experiment; the sweep has {', '.join(names)}")
  return [e for e in experiments if any(fnmatch.fnmatchcase(e.name, p) for p in patterns)]


def plan(experiment, seeds, methods, gin_files=(), gin_bindings=()):
  """Checks an experiment and builds its units (nothing is written)."""
  methods = list(experiment.methods if experiment.methods is not None else methods)
  experiment_lib.check_methods(methods, allow_empty=experiment.methods is not None)
  for env_id in (experiment.source, experiment.target):
    envs_lib.make(env_id).close()
  experiment_lib.parse_gin([*experiment.gin_files, *gin_files],
                           [*experiment.gin_bindings, *gin_bindings])
  for scope in ("source", "target"):
    train.check_config(scope)
  external = {s: _check_expert_dir(experiment.source_expert_dir, s, experiment.source)
              for s in seeds} if experiment.source_expert_dir else {}
  if set(methods) - {"scratch"}:
    experiment_lib.check_transfer(
        experiment.source, experiment.target,
        {s: files.read_json(os.path.join(d, units_lib.RESULT_FILE)) for s, d in external.items()})
  text = gin.config_str()
  iterations = {"expert": train.configured("source")["iterations"], "autoencoder": 0, "genome": 0,
                "target": train.configured("target")["iterations"]}
  result = Plan(experiment, list(seeds), methods, text, {}, {}, {}, iterations)
  if any(start_points.reads(m) in ("genome", "zoo") for m in methods):
    result.zoo = _zoo_units(experiment, seeds, text)
  for s in seeds:
    expert = units_lib.Unit("expert", experiment.source, s, units_lib.config_for("expert", text),
                            external_dir=external.get(s))
    result.experts[s] = expert
    helpers = _helper_units(experiment, s, methods, text, expert, result.zoo)
    if "autoencoder" in helpers:
      result.autoencoders[s] = helpers["autoencoder"]
    if "genome" in helpers:
      result.genomes[s] = helpers["genome"]
    for method in methods:
      result.targets[(method, s)] = _target_unit(experiment, s, method, text, expert, helpers, result.zoo)
  return result


def _zoo_units(experiment, seeds, config_text):
  """The source experts a genome autoencoder learns from and zoo_mean averages: (train,
  held out) seeds of gin's zoo(), none of them an experiment seed (every experiment's M*
  stays unseen)."""
  genome_lib.check_config()
  train_seeds, held_out_seeds = genome_lib.zoo()
  overlap = sorted(set(train_seeds + held_out_seeds) & set(seeds))
  if overlap:
    raise ExperimentError(f"{experiment.name}: zoo seeds {overlap} are also experiment seeds "
                          f"(an M* would be in the zoo): raise zoo.first_seed")
  return [units_lib.Unit("expert", experiment.source, s, units_lib.config_for("expert", config_text))
          for s in train_seeds + held_out_seeds]


def _helper_units(experiment, seed, methods, config_text, expert, zoo):
  """{'autoencoder' / 'genome': Unit}: the units this seed's start points read besides M*
  (zoo_mean reads the zoo's experts directly)."""
  helpers = {}
  for kind in sorted({start_points.reads(m) for m in methods} - {None, "zoo"}):
    deps = (expert,) if kind == "autoencoder" else (expert, *zoo)
    helpers[kind] = units_lib.Unit(kind, experiment.source, seed,
                                   units_lib.config_for(kind, config_text), deps=deps)
  return helpers


def _target_unit(experiment, seed, method, config_text, expert, helpers, zoo):
  reads = start_points.reads(method)
  if reads is None:  # scratch, no source: one run serves every experiment with this target and f2
    return units_lib.Unit("target", experiment.target, seed, units_lib.config_for("target", config_text),
                          method=method)
  return units_lib.Unit("target", experiment.target, seed,
                        units_lib.config_for("target", config_text, reads=("transfer", reads)),
                        method=method, source=experiment.source,
                        deps=(expert, *zoo) if reads == "zoo" else (expert, helpers[reads]))


def _check_expert_dir(expert_root, seed, source):
  """The one finished expert of `seed` on `source` under another run's root_dir."""
  found = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(
      expert_root, "units", "expert", source, "*", f"seed_{seed}", units_lib.RESULT_FILE)))
  if not found:
    raise ExperimentError(f"no finished source expert for seed {seed} on {source} under {expert_root}")
  if len(found) > 1:
    raise ExperimentError(f"{len(found)} experts for seed {seed} on {source} under {expert_root} "
                          f"(several configs); pass the root of a run with one")
  path = found[0]
  try:
    result = files.read_json(os.path.join(path, units_lib.RESULT_FILE))
    weights_lib.unflatten(train.load_weights(path, "final"), result["weight_shapes"])
  except Exception as e:  # pylint: disable=broad-except  (json, zip, npz, key or shape trouble)
    raise ExperimentError(f"corrupt source expert at {path}: {experiment_lib.first_line(e)}") from None
  return path


def _guard_root(root_dir, run_spec, config_text):
  """Refuses to mix another sweep into a root_dir that holds one's results (the seeds
  may differ: finished units are reused and new seeds add units)."""
  run_path = os.path.join(root_dir, "run.json")
  run_spec = json.loads(json.dumps(run_spec))  # as read back (tuples become lists)
  if os.path.exists(run_path):
    previous = files.read_json(run_path)
    with open(os.path.join(root_dir, "config.gin")) as f:
      previous_config = f.read()
    if ({**previous, "seeds": None} != {**run_spec, "seeds": None}
        or previous_config != config_text):
      raise ExperimentError(f"{root_dir} holds a run with other flags or config; "
                            "use a new --root_dir (finished results are left untouched)")
  files.write_text(os.path.join(root_dir, "config.gin"), config_text)
  files.write_json(run_path, run_spec)


def _check_root(root_dir):
  try:
    os.makedirs(root_dir, exist_ok=True)
    probe = os.path.join(root_dir, ".write-test")
    open(probe, "w").close()
    os.remove(probe)
  except OSError as e:
    raise ExperimentError(f"cannot write to root_dir {root_dir}: {e.strerror}") from None


def _labels(plans):
  """{unit: progress label}; a unit several experiments share is named after the first."""
  labels = {}
  for p in plans:
    prefix = "" if len(plans) == 1 else f"{p.experiment.name}: "
    for unit in p.units():
      labels.setdefault(unit, f"{prefix}seed {unit.seed} {experiment_lib.stage_name(unit)}")
  return labels


def _provenance(env_ids):
  """What made these results: command, commit, date, cores, the envs' raw step rates now."""
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__)), check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    commit = None
  rates = {}
  for env_id in sorted(env_ids):  # median of 3 rounds of 2000 random steps: about a second
    rounds = bench.raw_rounds(env_id, 2000)
    rates[env_id] = float(np.median([next(rounds) for _ in range(3)]))
  return {"command": " ".join(sys.argv), "commit": commit,
          "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "started_unix": time.time(),
          "cores": len(os.sched_getaffinity(0)), "raw_env_steps_per_second": rates}


class _InvocationClock:
  """Keeps <root_dir>/invocations.json: every invocation of a root with its wall time so
  far, rewritten at most every `interval` seconds, so that a sweep finished over several
  invocations (killed, resumed) can state its whole wall time (a killed one loses at
  most `interval` seconds)."""
  FILE = "invocations.json"

  def __init__(self, root_dir, provenance, interval=30.0):
    self.path, self.interval = os.path.join(root_dir, self.FILE), interval
    self.invocations = files.read_json(self.path) if os.path.exists(self.path) else []
    self.entry = {key: provenance[key] for key in ("date", "commit", "command", "started_unix",
                                                   "units_reused_from")}
    self.entry["seconds"] = 0.0
    self.invocations.append(self.entry)
    self.last = 0.0
    self.tick(force=True)

  def tick(self, force=False):
    now = time.time()
    if force or now - self.last >= self.interval:
      self.entry["seconds"] = now - self.entry["started_unix"]
      files.write_json(self.path, self.invocations, durable=False)
      self.last = now
    return self.invocations


def run(root_dir, experiments, seeds, methods=METHODS, gin_files=(), gin_bindings=(),
        backend="ray", workers=None, ray_address=None, log_file=SWEEP_LOG_FILE, run_spec=None,
        title=None, make_summary=lambda summaries: {"experiments": summaries}, reuse_from=()):
  """Runs (or resumes) the experiments' units, then writes summary.json (last, still
  holding the root's lock): make_summary({name: experiment summary}). Returns it.
  reuse_from: root dirs of earlier sweeps whose finished units with the same identity
  are linked in instead of trained (spam_tf.units.reuse_finished)."""
  plans = [plan(e, seeds, methods, gin_files, gin_bindings) for e in experiments]
  names = [e.name for e in experiments]
  if len(set(names)) != len(names):
    raise ExperimentError(f"experiment names must be distinct: {names}")
  engine.check_backend(backend, ray_address)
  _check_root(root_dir)
  config_text = "\n".join(f"# ===== experiment {p.experiment.name}: {p.experiment.source} -> "
                          f"{p.experiment.target}\n{p.config}" for p in plans)
  with files.RootLock(root_dir):
    _guard_root(root_dir, run_spec or {}, config_text)
    for top_dir in ("units", "logs"):
      files.remove_leftover_dirs(os.path.join(root_dir, top_dir))
    console.log_to(os.path.join(root_dir, log_file))
    all_units = units_lib.in_dependency_order([u for p in plans for u in p.units()])
    logging.info("%s: %d experiments, %d units, seeds %s, backend %s, root_dir %s", title,
                 len(plans), len(all_units), list(seeds), backend, root_dir)
    provenance = _provenance({e for p in plans for e in (p.experiment.source, p.experiment.target)})
    reused = [units_lib.reuse_finished(root_dir, u, reuse_from) for u in all_units]  # deps first; before the display counts
    provenance["units_reused_from"] = {r: reused.count(r) for r in reuse_from if reused.count(r)}
    labels = _labels(plans)
    iterations = {u: p.iterations[u.kind] for p in plans for u in p.units()}
    display = progress.Display(
        [progress.Unit(labels[u], u.run_dir(root_dir), iterations[u]) for u in all_units],
        console.stream(), title or f"sweep of {len(plans)} experiments", console.log_path())
    finished = engine.finished_results(all_units, root_dir)
    provenance["units"] = len(all_units)
    provenance["units_finished_before"] = len(finished)
    clock = _InvocationClock(root_dir, provenance)

    def on_poll():
      display.refresh()
      clock.tick()

    try:
      results = engine.run(all_units, root_dir, experiment_lib.execute_unit, console.worker_state(),
                           backend, workers, ray_address, on_poll, finished)
    finally:
      display.close()
    summary = make_summary({p.experiment.name: experiment_lib.summarize(root_dir, p, results)
                            for p in plans})
    provenance["wall_seconds"] = time.time() - provenance["started_unix"]
    provenance["invocations"] = clock.tick(force=True)
    provenance["wall_seconds_all_invocations"] = sum(i["seconds"] for i in provenance["invocations"])
    summary["provenance"] = provenance
    files.write_json(os.path.join(root_dir, "summary.json"), summary)
    return summary


def run_sweep(sweep_file, root_dir, seeds=None, gin_files=(), gin_bindings=(), reuse_from=(),
              experiment_patterns=(), **engine_args):
  """bin/spam_sweep: runs a sweep file (its experiments matching experiment_patterns, or
  all); writes and returns summary.json's dict."""
  experiments, methods, seeds, sweep_files, sweep_bindings = load(sweep_file, seeds)
  experiments = select(experiments, experiment_patterns)
  gin_files = [*sweep_files, *gin_files]
  gin_bindings = [*sweep_bindings, *gin_bindings]
  run_spec = {"sweep": sweep_file, "seeds": seeds, "gin_files": gin_files,
              "gin_bindings": gin_bindings, "experiments": [dataclasses.asdict(e) for e in experiments],
              "methods": methods}
  return run(root_dir, experiments, seeds, methods, gin_files, gin_bindings,
             log_file=SWEEP_LOG_FILE, run_spec=run_spec, title=f"sweep {os.path.basename(sweep_file)}",
             make_summary=lambda summaries: {
                 "sweep": sweep_file, "seeds": list(seeds), "experiments": summaries,
                 "config": "config.gin", "logs": "logs", "log": SWEEP_LOG_FILE},
             reuse_from=reuse_from, **engine_args)


def run_single(source, target, root_dir, seeds, gin_files=(), gin_bindings=(),
               source_expert_dir=None, methods=METHODS, **engine_args):
  """bin/spam_main: one experiment as a sweep; writes and returns summary.json's dict."""
  experiment = Experiment("main", source, target, tuple(gin_files), tuple(gin_bindings),
                          tuple(methods), source_expert_dir)
  run_spec = {"source": source, "target": target, "seeds": list(seeds),
              "source_expert_dir": source_expert_dir, "methods": list(methods)}
  experiment_lib.check_methods(list(methods))
  return run(root_dir, [experiment], seeds, methods, log_file=experiment_lib.LOG_FILE,
             run_spec=run_spec, title=f"{source} -> {target}",
             make_summary=lambda summaries: {**summaries["main"], "config": "config.gin",
                                             "logs": "logs", "log": experiment_lib.LOG_FILE},
             **engine_args)


def footer(root_dir, summary):
  return "\n".join([f"summary: {os.path.join(root_dir, 'summary.json')}   "
                    f"log: {os.path.join(root_dir, summary['log'])}",
                    f"TensorBoard: tensorboard --logdir {os.path.join(root_dir, 'logs')}"])
