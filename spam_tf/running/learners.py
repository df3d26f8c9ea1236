"""The learner search of bin/spam_learners: which f1/f2 reaches a task's criterion and holds it.

Each candidate is a list of gin bindings on top of the project's defaults (and
the --gin_file/--gin_bindings given). Every (candidate, env, seed) trains from
scratch with train.train_eval as a scratch target unit
(spam_tf/running/units.py: <root_dir>/units/target/<env>/scratch/<config hash>/seed_<s>/,
resumable, a finished run's result.json is reused) on spam_tf/running/engine.py and is scored by:

  reached   the greedy eval return hits the success criterion (spam_tf/rl/criteria.py:
            gin's success_criterion, else gymnasium's reward_threshold) at some iteration;
  held      the mean normalised greedy eval return over the last `hold_window`
            iterations (0 = a random policy, 1 = the criterion) is >= hold_fraction
            (held_stochastic: the same on the stochastic eval return);
  iterations to the criterion (first iteration; never = iterations + 1);
  steps per iteration / batch_steps.
"""
import os

import gin
import numpy as np

from spam_tf import files
from spam_tf.analysis import statistics as st
from spam_tf.rl import criteria
from spam_tf.rl import envs as envs_lib
from spam_tf.rl import train
from spam_tf.running import engine
from spam_tf.running import identity
from spam_tf.running import reuse
from spam_tf.running import tasks
from spam_tf.running import experiment
from spam_tf.running import units as units_lib
from spam_tf.running import worker
from spam_tf.terminal import console
from spam_tf.terminal import progress

# The search documented in WORKSPACE.md ("Learner search"). Each candidate binds every
# searched parameter (the defaults before the search, then its changes), so its
# results keep their meaning when the defaults change; "defaults" binds nothing: the
# code's defaults plus whatever --gin_file/--gin_bindings say.
_BEFORE_SEARCH = {"reinforce_agent.time_baseline": False, "reinforce_agent.value_baseline": False,
                  "reinforce_agent.learning_rate": 0.005,
                  "reinforce_agent.learning_rate_decay_steps": None,
                  "reinforce_agent.final_learning_rate": None}


def _candidate(**changes):
  bindings = {**_BEFORE_SEARCH, **{f"reinforce_agent.{k}": v for k, v in changes.items()}}
  return [f"{name}={value!r}" for name, value in bindings.items()]


CANDIDATES = {
    "defaults": [],
    "plain": _candidate(),
    "value_baseline": _candidate(value_baseline=True),
    "value_baseline_lr0.007_decay": _candidate(value_baseline=True, learning_rate=0.007,
                                               learning_rate_decay_steps=100,
                                               final_learning_rate=0.0007),
    "time_baseline": _candidate(time_baseline=True),
    "time_baseline_lr0.003": _candidate(time_baseline=True, learning_rate=0.003),
    "time_baseline_lr0.007": _candidate(time_baseline=True, learning_rate=0.007),
    "time_baseline_lr0.01": _candidate(time_baseline=True, learning_rate=0.01),
    "time_baseline_lr0.007_decay": _candidate(time_baseline=True, learning_rate=0.007,
                                              learning_rate_decay_steps=100,
                                              final_learning_rate=0.0007),
    "time_baseline_lr0.01_decay": _candidate(time_baseline=True, learning_rate=0.01,
                                             learning_rate_decay_steps=100,
                                             final_learning_rate=0.001),
}
HOLD_WINDOW = 20
HOLD_FRACTION = 0.95


def score(result, task, hold_window=HOLD_WINDOW, hold_fraction=HOLD_FRACTION):
  """Scores one run's result.json dict (see the module doc); eval_interval must be 1.
  task: {"criterion", "floor"} (spam_tf/running/tasks.py); holding is judged on the
  normalised scale, 0 at the floor and 1 at the criterion."""
  criterion, floor = task["criterion"], task["floor"]
  greedy = np.asarray(result["eval_returns"], np.float64)  # [iterations + 1]
  stochastic = np.asarray(result["stochastic_eval_returns"], np.float64)

  def holds(curve):
    return bool(st.normalize(curve[-hold_window:], criterion, floor).mean() >= hold_fraction)

  return {
      "reached": bool((greedy >= criterion).any()),
      "held": holds(greedy),
      "held_stochastic": holds(stochastic),
      "iterations_to_max": int(st.iterations_to_max(greedy[None], criterion)[0]),
      "mean_steps_per_iteration": float(np.mean(result["steps_per_iteration"])),
  }


def summarize(scores, batch_steps):
  """[score dicts of one (candidate, env)] -> the table row."""
  return {
      "seeds": len(scores),
      "reached": sum(s["reached"] for s in scores),
      "held": sum(s["held"] for s in scores),
      "held_stochastic": sum(s["held_stochastic"] for s in scores),
      "median_iterations_to_max": float(np.median([s["iterations_to_max"] for s in scores])),
      "steps_per_iteration_ratio": float(np.mean([s["mean_steps_per_iteration"] for s in scores])
                                         / batch_steps),
  }


def run(root_dir, env_ids, seeds, candidates, gin_files=(), gin_bindings=(), backend="ray",
        workers=None, ray_address=None, reuse_from=()):
  """Runs (or resumes) every (candidate, env, seed); returns {candidate: {env: row}}.
  reuse_from: roots whose finished units of the same identity are linked in (a sweep's
  scratch runs under the same settings are the "defaults" candidate's)."""
  unknown = sorted(set(candidates) - set(CANDIDATES))
  if unknown:
    raise ValueError(f"unknown candidate(s) {unknown}; choose from {sorted(CANDIDATES)}")
  for env_id in env_ids:
    envs_lib.make(env_id).close()
  runs, iterations, batch_steps, task_criteria = {}, {}, {}, {}
  for candidate in candidates:
    experiment.parse_gin(gin_files, list(gin_bindings) + CANDIDATES[candidate])
    train.check_config()
    task_criteria.update({env_id: criteria.success_criterion(env_id) for env_id in env_ids})
    config = units_lib.config_for("target", gin.config_str())
    iterations[candidate] = train.configured("target")["iterations"]
    batch_steps[candidate] = train.configured("target")["batch_steps"]
    for env_id in env_ids:
      for s in seeds:  # a run from scratch is a scratch target unit of that config
        runs[(candidate, env_id, s)] = units_lib.Unit("target", env_id, s, config, method="scratch",
                                                      identity=identity.of_unit("target"))
  engine.check_backend(backend, ray_address)
  os.makedirs(root_dir, exist_ok=True)
  with files.RootLock(root_dir):
    console.log_to(os.path.join(root_dir, "spam_learners.log"))
    task = {env_id: tasks.describe(root_dir, env_id, task_criteria[env_id]) for env_id in env_ids}
    reuse.link_all(root_dir, list(runs.values()), reuse_from)
    display = progress.Display(
        [progress.Unit(f"{c} {e} seed {s}", unit.run_dir(root_dir), iterations[c])
         for (c, e, s), unit in runs.items()], console.stream(), "learner search", console.log_path())
    try:
      results = engine.run(list(runs.values()), root_dir, worker.execute_unit,
                           identity.worker_state(console.worker_state()), backend, workers, ray_address, display.refresh)
    finally:
      display.close()
  table = {}
  for candidate in candidates:
    scores = {env_id: [score(results[runs[(candidate, env_id, s)]]["target"], task[env_id]) for s in seeds]
              for env_id in env_ids}
    table[candidate] = {env_id: {**summarize(scores[env_id], batch_steps[candidate]),
                                 "criterion": task[env_id]["criterion"], "floor": task[env_id]["floor"],
                                 "per_seed": scores[env_id]} for env_id in env_ids}
  _record(os.path.join(root_dir, "learners.json"), table, seeds, gin_files, gin_bindings)
  return table


def _record(path, table, seeds, gin_files, gin_bindings):
  """Adds (or replaces) these candidates' rows in learners.json, keeping the others'."""
  recorded = files.read_json(path) if os.path.exists(path) else {}
  for candidate, rows in table.items():
    recorded[candidate] = {"bindings": CANDIDATES[candidate], "gin_files": list(gin_files),
                           "gin_bindings": list(gin_bindings), "seeds": list(seeds), "envs": rows}
  files.write_json(path, recorded)


def format_table(table):
  lines = [f"{'candidate':28s} {'env':20s} {'reached':>8s} {'held':>6s} {'held (stoch.)':>14s} "
           f"{'median it. to max':>18s} {'steps/batch':>12s}"]
  for candidate, rows in table.items():
    for env_id, row in rows.items():
      lines.append(f"{candidate:28s} {env_id:20s} {row['reached']:>4d}/{row['seeds']:<3d} "
                   f"{row['held']:>2d}/{row['seeds']:<3d} {row['held_stochastic']:>10d}/{row['seeds']:<3d} "
                   f"{row['median_iterations_to_max']:18.1f} {row['steps_per_iteration_ratio']:12.2f}")
  return "\n".join(lines)
