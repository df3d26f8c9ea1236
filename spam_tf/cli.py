"""Flags and error handling of the bin/ launchers (kept thin: the logic is importable)."""
import os
import sys
import traceback

from absl import app
from absl import flags

from spam_tf.terminal import console

FLAGS = flags.FLAGS

flags.DEFINE_string("source", "CartPole-v1", "Source task S (gymnasium env id).")
flags.DEFINE_string("target", "InvertedPendulum-v4", "Target task T (gymnasium env id).")
flags.DEFINE_string("root_dir", None, "Output folder (default: runs/<source>_to_<target>).")
flags.DEFINE_string("seeds", "3", "Number of seeds (N -> 0..N-1) or a comma list (e.g. 1,5,7).")
flags.DEFINE_multi_string("gin_file", [], "Gin config file(s), applied in order.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'train_eval.iterations=50'.")
flags.DEFINE_string("source_expert_dir", None,
                    "Reuse the source experts of an earlier run (its root_dir) instead of training them.")
flags.DEFINE_integer("workers", None, "Units run at once on a local Ray (default: the machine's cores).",
                     lower_bound=1)
flags.DEFINE_enum("backend", "ray", ["ray", "inprocess"],
                  "ray: units as Ray tasks (local Ray, or --ray_address); inprocess: one by one "
                  "in this process, for debugging.")
flags.DEFINE_string("ray_address", None, "An existing Ray cluster to run on (e.g. 10.0.0.5:6379); "
                    "default: a local Ray started and stopped with this command.")


def define_repeatable_list(name, help_text, flag_values=FLAGS):
  """A list flag that may be comma-separated, repeated, or both (absl's DEFINE_list keeps
  only the last of repeated occurrences, silently); read it with repeatable_list."""
  flags.DEFINE_multi_string(name, [], help_text + " Comma-separated, or the flag repeated.",
                            flag_values=flag_values)


def repeatable_list(name, flag_values=FLAGS):
  """['a,b', 'c'] (the occurrences of --name) -> ['a', 'b', 'c']."""
  return [item.strip() for value in flag_values[name].value for item in value.split(",") if item.strip()]


define_repeatable_list("methods", "Start-point methods to train f2 from (spam_tf/spam/start_points.py): "
                       "scratch, spam, copy, prune, relu, relu_prune, noise (the default: all of these), "
                       "and genome, genome_mean, genome_sample, zoo_mean (they train a zoo of 20 more "
                       "experts).")


def parse_seeds(text):
  """'3' -> [0, 1, 2]; '1,5,7' -> [1, 5, 7]. Raises ValueError on bad input."""
  text = text.strip()
  if "," not in text:
    count = int(text)
    if count < 1:
      raise ValueError(f"--seeds must be a positive count or a list, got {text!r}")
    return list(range(count))
  seeds = [int(part) for part in text.split(",") if part.strip()]
  if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
    raise ValueError(f"--seeds must list distinct non-negative integers, got {text!r}")
  return seeds


def _user_errors():
  from spam_tf import files
  from spam_tf.rl import envs, train
  from spam_tf.running import engine, experiment, reuse
  from spam_tf.spam import transfer
  # ValueError covers evaluate.PolicyLoadError; OSError a parent-side write that failed
  # (summary.json, run.json, config.gin).
  return (envs.EnvError, experiment.ExperimentError, engine.EngineError, reuse.StaleUnitError, transfer.TransferError,
          train.TrainingDiverged, files.RootLockedError, ValueError, FloatingPointError, OSError)


def run_main(main_fn):
  """absl app.run with a clean terminal (spam_tf.terminal.console) and user errors reduced to
  one line on stderr and exit code 1."""
  def wrapped(argv):
    console.setup(FLAGS.verbosity)  # before TensorFlow loads: main_fn imports it
    try:
      return main_fn(argv)
    except KeyboardInterrupt:
      console.err("interrupted: rerun the same command to resume")
      return 130
    except Exception as e:  # pylint: disable=broad-except
      if isinstance(e, _user_errors()):
        console.err(f"error: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}")
        return 1
      traceback.print_exc()  # stderr: the log file when quiet
      if console.quiet():
        traceback.print_exc(file=console.stream())
      return 2
  app.run(wrapped, flags_parser=_parse_flags)


def _parse_flags(argv):
  """absl's parser, with a bad flag as one line (absl prints two, the first 'FATAL')."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    sys.stderr.write(f"error: {e}\n")
    sys.exit(1)


def spam_main(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
  seeds = parse_seeds(FLAGS.seeds)
  root_dir = FLAGS.root_dir or os.path.join("runs", f"{FLAGS.source}_to_{FLAGS.target}")
  with _engine_session():
    from spam_tf.running import experiment, summary as summary_lib, sweep  # heavy (TensorFlow)
    summary = sweep.run_single(FLAGS.source, FLAGS.target, root_dir, seeds, FLAGS.gin_file,
                               FLAGS.gin_bindings, FLAGS.source_expert_dir,
                               repeatable_list("methods") or experiment.DEFAULT_METHODS,
                               **_engine_args())
  console.out(summary_lib.table(summary) + "\n" + sweep.footer(root_dir, summary))
  return 0


def _engine_args():
  return {"backend": FLAGS.backend, "workers": FLAGS.workers, "ray_address": FLAGS.ray_address}


def _engine_session():
  """Ray starts (and its workers load TensorFlow) while this process loads its own."""
  from spam_tf.running import engine  # no TensorFlow
  return engine.session(**_engine_args())


def _define_reuse_flag():
  define_repeatable_list("reuse_units_from",
                         "Root dirs of earlier sweeps: a unit finished there with the same identity (kind, "
                         "env, method, seed, settings with their defaults, package versions, training "
                         "code version, deps) is hard-linked into root_dir instead of trained.")


def _reuse_roots():
  """--reuse_units_from, each checked to hold units."""
  roots = repeatable_list("reuse_units_from")
  for other in roots:
    if not os.path.isdir(os.path.join(other, "units")):
      raise ValueError(f"--reuse_units_from: no units/ folder in {other}")
  return roots


def define_sweep_flags():
  flags.DEFINE_string("sweep", None, "A sweep file, e.g. configs/sweeps/paper.gin.")
  _define_reuse_flag()
  flags.DEFINE_boolean("accept_stale_units", False,
                       "With --reuse_units_from: also link units trained there under other settings "
                       "(defaults, package versions, training code); the report lists them.")
  define_repeatable_list("experiments",
                         "Run only the sweep's experiments whose names match these shell patterns "
                         "(e.g. 'cp_to_ip_*'); default: all.")
  flags.mark_flag_as_required("sweep")
  flags.mark_flag_as_required("root_dir")


def spam_sweep(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
  seeds = parse_seeds(FLAGS.seeds) if FLAGS["seeds"].present else None
  reuse_from = _reuse_roots()
  with _engine_session():
    from spam_tf.running import summary as summary_lib, sweep  # heavy import (TensorFlow)
    summary = sweep.run_sweep(FLAGS.sweep, FLAGS.root_dir, seeds, FLAGS.gin_file, FLAGS.gin_bindings,
                              reuse_from=reuse_from, experiment_patterns=repeatable_list("experiments"),
                              accept_stale=FLAGS.accept_stale_units,
                              **_engine_args())
  tables = [summary_lib.table(s) for s in summary["experiments"].values()]
  console.out("\n\n".join(tables) + "\n" + sweep.footer(FLAGS.root_dir, summary))
  return 0


def define_bench_flags():
  flags.DEFINE_string("json", None, "Also write the results as JSON to this path.")
  flags.DEFINE_list("envs", ["CartPole-v1", "InvertedPendulum-v4"], "Env ids to measure.")
  flags.DEFINE_integer("rounds", 21, "Pairs of (raw round of batch_steps steps, collection iteration); "
                       "the median pair's ratio is reported.", lower_bound=1)
  flags.DEFINE_integer("split_iterations", 4, "train_eval iterations for the collect/train/eval split.")
  flags.DEFINE_enum("pipeline", "smoke", ["none", "smoke", "default"],
                    "Time a bin/spam_main run: none, configs/smoke.gin (3 seeds), or the default experiment.")
  flags.DEFINE_list("scaling_seeds", ["1", "2", "4"], "Seed counts for the wall-time scaling rows (smoke size); empty: skip.")
  flags.DEFINE_list("scaling_batch_steps", ["1000", "5000", "10000"],
                    "Batch sizes for the per-iteration scaling rows; empty: skip.")
  flags.DEFINE_enum("sweeps", "smoke", ["none", "smoke", "paper"],
                    "Time the sweep engine: the smoke sweep in-process, on Ray with 1 and 2 workers "
                    "(Ray's overhead, scaling), or the full paper sweep on Ray (about 1.5 hours here).")
  flags.DEFINE_string("sweep_root", None, "Also report the unit costs of a finished sweep's root_dir.")


def spam_bench(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
  from spam_tf.running import bench_report, experiment  # heavy import (TensorFlow) after flag parsing
  experiment.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  results = bench_report.run_all(
      FLAGS.envs, FLAGS.rounds, FLAGS.split_iterations, FLAGS.pipeline,
      [int(s) for s in FLAGS.scaling_seeds], [int(b) for b in FLAGS.scaling_batch_steps],
      FLAGS.sweeps, FLAGS.sweep_root)
  console.out(bench_report.format_table(results))
  if FLAGS.json:
    from spam_tf import files
    files.write_json(FLAGS.json, results)
  return 0


def define_eval_flags():
  flags.DEFINE_string("saved_model", None,
                      "A policy a run exported: <root_dir>/ plus a 'saved_models' path of its summary.json.")
  flags.DEFINE_string("env", None, "Env id (default: the one in the result.json beside the SavedModel).")
  flags.DEFINE_integer("episodes", 10, "Greedy episodes to run.", lower_bound=1)
  flags.DEFINE_integer("seed", 0, "Env seed: episode i's env is reset with a seed derived from it.",
                       lower_bound=0)
  flags.DEFINE_string("json", None, "Also write the results as JSON to this path.")


def spam_eval(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.saved_model:
    raise ValueError("--saved_model is required")
  from spam_tf.rl import evaluate  # heavy import (TensorFlow) after flag parsing
  results = evaluate.evaluate(FLAGS.saved_model, FLAGS.env, FLAGS.episodes, FLAGS.seed)
  console.out(f"{FLAGS.saved_model} on {results['env_id']}: mean return "
              f"{results['mean_return']:.1f} over {FLAGS.episodes} greedy episodes "
              f"(seed {FLAGS.seed}); returns {results['returns']}")
  if FLAGS.json:
    from spam_tf import files
    files.write_json(FLAGS.json, results)
  return 0


def define_learners_flags():
  flags.DEFINE_list("envs", ["CartPole-v1", "InvertedPendulum-v4"], "Env ids to train on.")
  flags.DEFINE_list("candidates", None, "Candidates (spam_tf/running/learners.py CANDIDATES); default: all.")
  _define_reuse_flag()


def spam_learners(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
  seeds = parse_seeds(FLAGS.seeds)
  reuse_from = _reuse_roots()
  with _engine_session():
    from spam_tf.running import learners  # heavy import (TensorFlow) after flag parsing
    table = learners.run(FLAGS.root_dir or os.path.join("runs", "learners"), FLAGS.envs, seeds,
                         FLAGS.candidates or list(learners.CANDIDATES), FLAGS.gin_file,
                         FLAGS.gin_bindings, reuse_from=reuse_from, **_engine_args())
  console.out(learners.format_table(table))
  return 0


def define_report_flags():
  flags.DEFINE_string("out_dir", None, "Where REPORT.md and its figures go (default: <root_dir>/report).")
  flags.DEFINE_integer("bootstrap_reps", 2000, "Bootstrap resamples per interval.", lower_bound=100)
  flags.DEFINE_string("tuning_root_dir", None,
                      "The same genome sweep on other seeds: each pair's compression-based start is "
                      "picked there and judged on root_dir's seeds.")
  flags.mark_flag_as_required("root_dir")


def spam_report(argv):
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not os.path.isfile(os.path.join(FLAGS.root_dir, "summary.json")):
    raise ValueError(f"no summary.json in {FLAGS.root_dir}: run (or finish) the sweep first")
  from spam_tf.analysis import genome_section, report  # heavy imports (rliable, matplotlib) after flag parsing
  if FLAGS.tuning_root_dir:
    genome_section.check_tuning_root(FLAGS.root_dir, FLAGS.tuning_root_dir)
  path = report.write(FLAGS.root_dir, FLAGS.out_dir or os.path.join(FLAGS.root_dir, "report"),
                      FLAGS.bootstrap_reps, FLAGS.tuning_root_dir)
  console.out(f"report: {path}")
  return 0
