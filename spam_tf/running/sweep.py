"""Sweeps: experiments x methods x seeds as one graph of shared units, run by spam_tf/running/engine.py.

A sweep file (configs/sweeps/*.gin) binds
  sweep.experiments  a list of dicts: name, source, target and optionally gin_files,
                     gin_bindings (the experiment's config), methods (default: the sweep's)
                     and primary: the comparisons that carry verdicts, declared before the
                     run, [(method, reference)], a reference a method of the experiment or
                     '<experiment>/<method>' (default: sweep.primary, else
                     experiment.default_primary);
  sweep.methods      the start-point methods (default: start_points.DEFAULT_METHODS, the
                     paper's and its controls; the genome methods are named explicitly);
  sweep.seeds        how many seeds (0..N-1; bin/spam_sweep --seeds overrides);
  sweep.primary      the primary comparisons of every experiment that names none;
  sweep.gin_files, sweep.gin_bindings   applied to every experiment after its own
                     (e.g. configs/smoke.gin for a tiny version of the same sweep).
bin/spam_main runs a sweep of one experiment made from its flags.

Each experiment becomes units (spam_tf/running/units.py) keyed by what determines them, so
a unit several experiments need is trained once. Everything is checked before
anything is written: envs, configs, methods, and that each transfer fits.

Layout under root_dir:
  units/, logs/     every unit's files and TensorBoard run (spam_tf/running/units.py);
                    logs/experiments/<name>/ each experiment's criteria and normalised
                    curves (spam_tf/running/summary.write_events)
  tasks/<env>.json  each task's random-policy floor (spam_tf/running/tasks.py)
  config.gin        each experiment's effective config; run.json the sweep's
                    shape (a rerun must match it, except for the seeds: units are
                    reused, so more seeds only add units)
  summary.json      written last, atomically: present means complete
  <log file>        the detail: per-iteration lines, TensorFlow's and Ray's output
"""
import collections
import dataclasses
import fnmatch
import json
import os
import time

from absl import logging
import gin

from spam_tf import files
from spam_tf.running import engine
from spam_tf.running import experiment as experiment_lib
from spam_tf.running import identity
from spam_tf.running import provenance as provenance_lib
from spam_tf.running import reuse
from spam_tf.running import summary as summary_lib
from spam_tf.running import tasks as tasks_lib
from spam_tf.running import units as units_lib
from spam_tf.running import worker
from spam_tf.running.experiment import Experiment, ExperimentError
from spam_tf.terminal import console
from spam_tf.terminal import progress

METHODS = experiment_lib.DEFAULT_METHODS
SWEEP_LOG_FILE = "spam_sweep.log"
MAIN_LOG_FILE = "spam_main.log"
_EXPERIMENT_KEYS = {"name", "source", "target", "gin_files", "gin_bindings", "methods", "primary"}


@gin.configurable("sweep")
def _sweep(experiments=(), methods=METHODS, seeds=10, gin_files=(), gin_bindings=(), primary=None):
  return {"experiments": list(experiments), "methods": list(methods), "seeds": seeds,
          "gin_files": list(gin_files), "gin_bindings": list(gin_bindings), "primary": primary}


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
                            f"optionally gin_files, gin_bindings, methods, primary; got {entry!r}")
    methods, primary = entry.get("methods"), entry.get("primary", spec["primary"])
    experiments.append(Experiment(entry["name"], entry["source"], entry["target"],
                                  tuple(entry.get("gin_files", ())),
                                  tuple(entry.get("gin_bindings", ())),
                                  None if methods is None else tuple(methods),
                                  primary=None if primary is None else tuple(tuple(p) for p in primary)))
  if not experiments:
    raise ExperimentError(f"{path} lists no experiments (sweep.experiments)")
  names = [e.name for e in experiments]
  for e in experiments:
    experiment_lib.primary_comparisons(e, list(e.methods if e.methods is not None else spec["methods"]), names)
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


def run(root_dir, experiments, seeds, methods=METHODS, gin_files=(), gin_bindings=(),
        backend="ray", workers=None, ray_address=None, log_file=SWEEP_LOG_FILE, run_spec=None,
        title=None, make_summary=lambda summaries: {"experiments": summaries}, reuse_from=(),
        accept_stale=False):
  """Runs (or resumes) the experiments' units, then writes summary.json (last, still
  holding the root's lock): make_summary({name: experiment summary}). Returns it.
  reuse_from: root dirs of earlier sweeps whose finished units with the same identity
  are linked in instead of trained (spam_tf.running.reuse); accept_stale: link those
  trained there under other settings too (recorded in provenance)."""
  plans = [experiment_lib.plan(e, seeds, methods, gin_files, gin_bindings) for e in experiments]
  for note in experiment_lib.criteria_notes(plans):
    console.err(note)
  names = [e.name for e in experiments]
  if len(set(names)) != len(names):
    raise ExperimentError(f"experiment names must be distinct: {names}")
  engine.check_backend(backend, ray_address)
  _check_root(root_dir)
  config_text = "\n".join(f"# ===== experiment {p.experiment.name}: {p.experiment.source} -> "
                          f"{p.experiment.target}\n{p.config}" for p in plans)
  with files.RootLock(root_dir):
    tasks = tasks_lib.describe_all(root_dir, plans)  # a task without a usable scale: refused now
    _guard_root(root_dir, run_spec or {}, config_text)
    for top_dir in ("units", "logs"):
      files.remove_leftover_dirs(os.path.join(root_dir, top_dir))
    console.log_to(os.path.join(root_dir, log_file))
    all_units = units_lib.in_dependency_order([u for p in plans for u in p.units()])
    logging.info("%s: %d experiments, %d units, seeds %s, backend %s, root_dir %s", title,
                 len(plans), len(all_units), list(seeds), backend, root_dir)
    provenance = provenance_lib.collect({e for p in plans for e in (p.experiment.source, p.experiment.target)})
    reused, stale = reuse.link_all(root_dir, all_units, reuse_from, accept_stale)  # before the display counts
    provenance["units_reused_from"] = {r: list(reused.values()).count(r) for r in reuse_from
                                       if r in reused.values()}
    provenance["stale_units_accepted"] = stale
    results, clock, trained = _run_units(root_dir, plans, all_units, provenance, title, backend, workers,
                                         ray_address)
    summaries = {p.experiment.name: summary_lib.summarize(root_dir, p, results, tasks) for p in plans}
    for experiment_summary in summaries.values():
      summary_lib.write_events(root_dir, experiment_summary)
    summary = make_summary(summaries)
    provenance["wall_seconds"] = time.time() - provenance["started_unix"]
    clock.entry["units_per_node"] = provenance["units_per_node"] = _units_per_node(results, trained)
    provenance["invocations"] = clock.tick(force=True)
    provenance["wall_seconds_all_invocations"] = sum(i["seconds"] for i in provenance["invocations"])
    summary["provenance"] = provenance
    files.write_json(os.path.join(root_dir, "summary.json"), summary)
    return summary


def _run_units(root_dir, plans, all_units, provenance, title, backend, workers, ray_address):
  """The engine's run of every unit under a progress display and the invocation clock;
  returns ({unit: result}, the clock, the units it trained)."""
  labels = _labels(plans)
  iterations = {u: p.iterations[u.kind] for p in plans for u in p.units()}
  display = progress.Display(
      [progress.Unit(labels[u], u.run_dir(root_dir), iterations[u]) for u in all_units],
      console.stream(), title or f"sweep of {len(plans)} experiments", console.log_path())
  finished = engine.finished_results(all_units, root_dir)
  provenance["units"] = len(all_units)
  provenance["units_finished_before"] = len(finished)
  clock = provenance_lib.InvocationClock(root_dir, provenance)

  def on_poll():
    display.refresh()
    clock.tick()

  try:
    results = engine.run(all_units, root_dir, worker.execute_unit, identity.worker_state(console.worker_state()),
                         backend, workers, ray_address, on_poll, finished)
  finally:
    display.close()
  return results, clock, [u for u in all_units if u not in finished]


def _units_per_node(results, trained):
  """{Ray node id: how many of the units trained now ran there} ('in-process' without Ray)."""
  nodes = [(results[u].get("target") or results[u]).get("node") or "in-process" for u in trained]
  return dict(collections.Counter(nodes))


def _guard_root(root_dir, run_spec, config_text):
  """Refuses to mix another sweep into a root_dir that holds one's results (the seeds
  may differ: finished units are reused and new seeds add units; so may the success
  criterion: it judges the units, and the summary is rewritten with it)."""
  run_path = os.path.join(root_dir, "run.json")
  run_spec = json.loads(json.dumps(run_spec))  # as read back (tuples become lists)
  if os.path.exists(run_path):
    previous = files.read_json(run_path)
    with open(os.path.join(root_dir, "config.gin")) as f:
      previous_config = f.read()
    if (_unit_relevant(previous) != _unit_relevant(run_spec)
        or units_lib.without_experiment_only(previous_config) != units_lib.without_experiment_only(config_text)):
      raise ExperimentError(f"{root_dir} holds a run with other flags or config; "
                            "use a new --root_dir (finished results are left untouched)")
  files.write_text(os.path.join(root_dir, "config.gin"), config_text)
  files.write_json(run_path, run_spec)


def _unit_relevant(run_spec):
  """The run spec without what may change on a root holding results: the seeds, and gin
  bindings of sections no unit reads (the success criterion)."""
  return {**run_spec, "seeds": None,
          "gin_bindings": [b for b in run_spec.get("gin_bindings", []) if not units_lib.is_experiment_only(b)]}


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
      labels.setdefault(unit, f"{prefix}seed {unit.seed} {worker.stage_name(unit)}")
  return labels


def run_sweep(sweep_file, root_dir, seeds=None, gin_files=(), gin_bindings=(), reuse_from=(),
              experiment_patterns=(), accept_stale=False, **engine_args):
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
             reuse_from=reuse_from, accept_stale=accept_stale, **engine_args)


def run_single(source, target, root_dir, seeds, gin_files=(), gin_bindings=(),
               source_expert_dir=None, methods=METHODS, **engine_args):
  """bin/spam_main: one experiment as a sweep; writes and returns summary.json's dict."""
  experiment = Experiment("main", source, target, tuple(gin_files), tuple(gin_bindings),
                          tuple(methods), source_expert_dir)
  run_spec = {"source": source, "target": target, "seeds": list(seeds),
              "source_expert_dir": source_expert_dir, "methods": list(methods)}
  experiment_lib.check_methods(list(methods))
  return run(root_dir, [experiment], seeds, methods, log_file=MAIN_LOG_FILE,
             run_spec=run_spec, title=f"{source} -> {target}",
             make_summary=lambda summaries: {**summaries["main"], "config": "config.gin",
                                             "logs": "logs", "log": MAIN_LOG_FILE},
             **engine_args)


def footer(root_dir, summary):
  """What the terminal shows after the summary table: what these seeds can tell, and where
  the summary, the log and the TensorBoard runs are."""
  return "\n".join([seeds_note(root_dir, len(summary["seeds"])),
                    f"summary: {os.path.join(root_dir, 'summary.json')}   "
                    f"log: {os.path.join(root_dir, summary['log'])}",
                    f"TensorBoard: .venv/bin/tensorboard --logdir {os.path.join(root_dir, 'logs')}"])


def seeds_note(root_dir, seeds):
  """One line on what `seeds` seeds can tell: these numbers describe the runs; verdicts come
  from bin/spam_report's paired tests, which need at least 6 seeds to reject anything (the
  smallest sign-flip p-value is 2 / 2^n) and about 10 to find a shift of one standard
  deviation of the paired differences 4 times in 5."""
  if seeds < 6:
    return (f"{seeds} seeds: these numbers describe the runs and carry no verdict (a paired test needs at least 6 "
            f"seeds, about 10 to find a typical difference): add seeds with --seeds=20 on the same root_dir, then "
            f"bin/spam_report --root_dir={root_dir}")
  return f"{seeds} seeds: verdicts on the declared comparisons: bin/spam_report --root_dir={root_dir}"
