"""The binaries' flags and their one-line errors (kept thin: the logic is importable).

Each binary defines only the flags it reads: bin/<binary> calls define_<binary>_flags(),
adopts them as its key flags (its --help lists them and --verbosity; --helpfull lists every
flag absl has too), then run_main(<binary>). A flag another binary defines is refused.
"""
import os
import sys
import traceback

from absl import app
from absl import flags

from spam_tf.terminal import console

FLAGS = flags.FLAGS
# This binary's required flags, so that one line names every one missing (absl's
# validators give a line each).
_REQUIRED = []

SEEDS_HELP = ("Seeds: a count N (seeds 0..N-1) or a comma list (e.g. 1,5,7); more seeds on a "
              "finished root_dir only add units.")


def define_repeatable_list(name, help_text, flag_values=FLAGS):
  """A list flag that may be comma-separated, repeated, or both (absl's DEFINE_list keeps
  only the last of repeated occurrences, silently); read it with repeatable_list."""
  flags.DEFINE_multi_string(name, None, help_text + " Comma-separated", flag_values=flag_values)


def repeatable_list(name, flag_values=FLAGS):
  """['a,b', 'c'] (the occurrences of --name) -> ['a', 'b', 'c']."""
  return [item.strip() for value in flag_values[name].value or [] for item in value.split(",") if item.strip()]


def _define_required_string(name, help_text):
  """A string flag the binary cannot run without: no default shown, its help says so."""
  flags.DEFINE_string(name, None, f"{help_text} Required.")
  flags.mark_flag_as_required(name)
  _REQUIRED.append(name)


def _declare_verbosity():
  """absl's --verbosity is a key flag of every binary (console.setup reads it); its help says
  what it does here rather than absl's 'Set to 1 for debug logging'."""
  FLAGS["verbosity"].help = ("1: the terminal shows every line (TensorFlow's and the per-iteration "
                             "detail too) and nothing is redirected; below 1, only the project's lines "
                             "(the rest goes to the run's log).")
  flags.declare_key_flag("verbosity")


def _define_gin_flags(what):
  flags.DEFINE_multi_string("gin_file", [], f"Gin config files, applied in order{what}")
  flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, applied after the files, e.g. "
                            "--gin_bindings='train_eval.iterations=50'")


def _define_engine_flags():
  flags.DEFINE_enum("backend", "ray", ["ray", "inprocess"],
                    "ray: units as Ray tasks (a local Ray, or --ray_address); inprocess: one by one "
                    "in this process, for debugging (the same results).")
  flags.DEFINE_integer("workers", None, "Units run at once on a local Ray (default: the machine's cores).",
                       lower_bound=1)
  flags.DEFINE_string("ray_address", None, "A running Ray cluster to use (e.g. 10.0.0.5:6379; WORKSPACE.md, 'Run a sweep on a cluster'); "
                      "default: a local Ray started and stopped with this command.")


def _define_reuse_flag():
  define_repeatable_list("reuse_units_from",
                         "Root dirs of earlier runs: a unit finished there with the same identity (kind, "
                         "env, method, seed, settings with their defaults, package versions, training "
                         "code version, deps) is hard-linked into root_dir instead of trained.")


def define_main_flags():
  """bin/spam_main's flags: one source -> target experiment."""
  _declare_verbosity()
  flags.DEFINE_string("source", "CartPole-v1", "Source task S: a gymnasium env id.")
  flags.DEFINE_string("target", "InvertedPendulum-v4", "Target task T: a gymnasium env id.")
  flags.DEFINE_string("root_dir", None, "Output folder (default: runs/<source>_to_<target>); a rerun "
                      "resumes it.")
  flags.DEFINE_string("seeds", "3", SEEDS_HELP)
  define_repeatable_list("methods", "Start-point methods to train f2 from (spam_tf/spam/start_points.py): "
                         "scratch, spam, copy, prune, relu, relu_prune, noise, and genome, genome_mean, "
                         "genome_sample, zoo_mean (they train a zoo of 20 more experts). Default: scratch, spam, "
                         "relu_prune (SPAM, training from scratch, and the expert with SPAM's zeros and no "
                         "autoencoder).")
  flags.DEFINE_string("source_expert_dir", None,
                      "The root_dir of an earlier run whose source experts to use instead of training them.")
  _define_gin_flags("")
  _define_engine_flags()


def define_sweep_flags():
  """bin/spam_sweep's flags: a sweep file's experiments."""
  _declare_verbosity()
  _define_required_string("sweep", "A sweep file, e.g. configs/sweeps/paper.gin.")
  _define_required_string("root_dir", "Output folder of this sweep (one sweep per root_dir; a rerun resumes).")
  flags.DEFINE_string("seeds", None, SEEDS_HELP + " Default: the sweep file's sweep.seeds.")
  define_repeatable_list("experiments",
                         "Run only the sweep's experiments whose names match these shell patterns "
                         "(e.g. 'cp_to_ip_*'); default: all.")
  _define_reuse_flag()
  flags.DEFINE_boolean("accept_stale_units", False,
                       "With --reuse_units_from: also link units trained there under other settings "
                       "(defaults, package versions, training code); the report lists them.")
  _define_gin_flags(", after each experiment's own")
  _define_engine_flags()


def define_learners_flags():
  """bin/spam_learners' flags: candidate learners x envs x seeds from scratch."""
  _declare_verbosity()
  flags.DEFINE_list("envs", ["CartPole-v1", "InvertedPendulum-v4"], "Env ids to train on.")
  flags.DEFINE_list("candidates", None, "Candidates (spam_tf/running/learners.py CANDIDATES); default: all.")
  flags.DEFINE_string("seeds", "3", SEEDS_HELP)
  flags.DEFINE_string("root_dir", os.path.join("runs", "learners"), "Output folder; a rerun resumes it.")
  _define_reuse_flag()
  _define_gin_flags("")
  _define_engine_flags()


def define_eval_flags():
  """bin/spam_eval's flags: one exported policy on an env."""
  _declare_verbosity()
  _define_required_string("saved_model", "A policy a run exported: <root_dir>/ plus a 'saved_model' path "
                          "that its summary.json lists.")
  flags.DEFINE_string("env", None, "Env id (default: the one in the result.json beside the SavedModel).")
  flags.DEFINE_integer("episodes", 10, "Greedy episodes to run.", lower_bound=1)
  flags.DEFINE_integer("seed", 0, "Env seed: episode i's env is reset with a seed derived from it.",
                       lower_bound=0)
  flags.DEFINE_string("json", None, "Also write the results as JSON to this path.")


def define_report_flags():
  """bin/spam_report's flags: REPORT.md from a finished root."""
  _declare_verbosity()
  _define_required_string("root_dir", "A finished run's root_dir (it holds summary.json).")
  flags.DEFINE_string("out_dir", None, "Where REPORT.md and its figures go (default: <root_dir>/report).")
  flags.DEFINE_integer("bootstrap_reps", 2000, "Bootstrap resamples per interval.", lower_bound=100)
  flags.DEFINE_string("tuning_root_dir", None,
                      "The same genome sweep on other seeds: each pair's compression-based start is "
                      "picked there and judged on root_dir's seeds.")


def define_bench_flags():
  """bin/spam_bench's flags: what to measure, and the training shape it measures."""
  _declare_verbosity()
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
  flags.DEFINE_string("json", None, "Also write the results as JSON to this path.")
  _define_gin_flags(" (the training shape it measures)")


def define_maps_flags():
  """bin/spam_maps' flags: the grid of map-recovery cases, and the settings of their data."""
  _declare_verbosity()
  flags.DEFINE_string("root_dir", os.path.join("runs", "maps"), "Output folder (rows.jsonl, the experts, "
                      "the log); a rerun resumes it, its settings must match.")
  flags.DEFINE_string("out_dir", None, "Where REPORT.md and its figures go (default: <root_dir>/report); "
                      "the report covers every row in root_dir.")
  flags.DEFINE_list("bases", ["CartPole-v1", "Acrobot-v1", "Swimmer-v4", "Hopper-v4", "InvertedDoublePendulum-v4",
                              "HalfCheetah-v4", "Walker2d-v4"], "Base tasks: twins of each are the targets.")
  flags.DEFINE_list("variants", ["plain", "drop", "distract"], "Twin variants: plain (inputs permuted and "
                    "signed), drop (2 inputs dropped), distract (a noise input and a duplicate added).")
  flags.DEFINE_list("budgets", ["300", "1000", "2000", "5000"], "Target step budgets.")
  flags.DEFINE_list("policies", ["random", "expert", "expert_noise"], "Data policies on the twin: random, "
                    "expert (the base's f1 expert through the true map), expert_noise (its actions mixed "
                    "with uniform ones).")
  flags.DEFINE_string("seeds", "10", "Seeds (twin seeds and every draw): a count N (0..N-1) or a comma list.")
  flags.DEFINE_integer("source_steps", 5000, "Random-policy steps on the base task, as auto_map collects.",
                       lower_bound=1)
  flags.DEFINE_integer("expert_iterations", 100, "f1 iterations of each base's expert (train_eval's default "
                       "100; trained once per root_dir).", lower_bound=1)
  flags.DEFINE_float("noise_share", 0.5, "expert_noise: the share of uniformly random actions.",
                     lower_bound=0.0, upper_bound=1.0)


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
    if len(argv) > 1:  # no binary takes any (a flag's value after a space is parsed with it)
      console.err(f"error: unexpected arguments: {' '.join(argv[1:])}")
      return 1
    console.setup(FLAGS.verbosity)  # before TensorFlow loads: main_fn imports it
    try:
      return main_fn()
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
  """absl's parser, with a bad flag as one line (absl prints two, the first 'FATAL'; a line
  per missing required flag)."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    # Required flags are checked once the others parsed (else absl raised before marking
    # the flags parsed), and are missing only if still None.
    missing = [f"--{name}" for name in _REQUIRED if FLAGS.is_parsed() and FLAGS[name].value is None]
    message = f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required" if missing else str(e)
    sys.stderr.write(f"error: {'; '.join(line.strip() for line in message.splitlines())}\n")
    sys.exit(1)


def spam_main():
  seeds = parse_seeds(FLAGS.seeds)
  root_dir = FLAGS.root_dir or os.path.join("runs", f"{FLAGS.source}_to_{FLAGS.target}")
  with _engine_session():
    from spam_tf.running import experiment, summary as summary_lib, sweep  # heavy (TensorFlow)
    summary = sweep.run_single(FLAGS.source, FLAGS.target, root_dir, seeds, FLAGS.gin_file,
                               FLAGS.gin_bindings, FLAGS.source_expert_dir,
                               repeatable_list("methods") or experiment.MAIN_METHODS,
                               **_engine_args())
  console.out(summary_lib.table(summary) + "\n" + sweep.footer(root_dir, summary))
  return 0


def _engine_args():
  return {"backend": FLAGS.backend, "workers": FLAGS.workers, "ray_address": FLAGS.ray_address}


def _engine_session():
  """Ray starts (and its workers load TensorFlow) while this process loads its own."""
  from spam_tf.running import engine  # no TensorFlow
  return engine.session(**_engine_args())


def _reuse_roots():
  """--reuse_units_from, each checked to hold units."""
  roots = repeatable_list("reuse_units_from")
  for other in roots:
    if not os.path.isdir(os.path.join(other, "units")):
      raise ValueError(f"--reuse_units_from: no units/ folder in {other}")
  return roots


def spam_sweep():
  seeds = parse_seeds(FLAGS.seeds) if FLAGS.seeds is not None else None
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


def spam_learners():
  seeds = parse_seeds(FLAGS.seeds)
  reuse_from = _reuse_roots()
  with _engine_session():
    from spam_tf.running import learners  # heavy import (TensorFlow) after flag parsing
    table = learners.run(FLAGS.root_dir, FLAGS.envs, seeds, FLAGS.candidates or list(learners.CANDIDATES),
                         FLAGS.gin_file, FLAGS.gin_bindings, reuse_from=reuse_from, **_engine_args())
  console.out(learners.format_table(table))
  return 0


def spam_eval():
  from spam_tf.rl import evaluate  # heavy import (TensorFlow) after flag parsing
  results = evaluate.evaluate(FLAGS.saved_model, FLAGS.env, FLAGS.episodes, FLAGS.seed)
  console.out(f"{FLAGS.saved_model} on {results['env_id']}: mean return "
              f"{results['mean_return']:.1f} over {FLAGS.episodes} greedy episodes "
              f"(seed {FLAGS.seed}); returns {results['returns']}")
  _write_json(results)
  return 0


def _write_json(results):
  if FLAGS.json:
    from spam_tf import files
    files.write_json(FLAGS.json, results)


def spam_report():
  if not os.path.isfile(os.path.join(FLAGS.root_dir, "summary.json")):
    raise ValueError(f"no summary.json in {FLAGS.root_dir}: run (or finish) the sweep first")
  from spam_tf.analysis import genome_section, report  # heavy imports (rliable, matplotlib) after flag parsing
  if FLAGS.tuning_root_dir:
    genome_section.check_tuning_root(FLAGS.root_dir, FLAGS.tuning_root_dir)
  path = report.write(FLAGS.root_dir, FLAGS.out_dir or os.path.join(FLAGS.root_dir, "report"),
                      FLAGS.bootstrap_reps, FLAGS.tuning_root_dir)
  console.out(f"report: {path}")
  return 0


def spam_bench():
  from spam_tf.running import bench_report, experiment  # heavy import (TensorFlow) after flag parsing
  experiment.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  results = bench_report.run_all(
      FLAGS.envs, FLAGS.rounds, FLAGS.split_iterations, FLAGS.pipeline,
      [int(s) for s in FLAGS.scaling_seeds], [int(b) for b in FLAGS.scaling_batch_steps],
      FLAGS.sweeps, FLAGS.sweep_root)
  console.out(bench_report.format_table(results))
  _write_json(results)
  return 0


def spam_maps():
  from spam_tf.running import map_recovery, map_recovery_report  # heavy imports after flag parsing
  if not all(b.isdigit() for b in FLAGS.budgets):
    raise ValueError(f"--budgets must be positive step counts, got {','.join(FLAGS.budgets)}")
  budgets = [int(b) for b in FLAGS.budgets]
  map_recovery.check_grid(FLAGS.bases, FLAGS.variants, FLAGS.policies, budgets)
  cases = map_recovery.grid(FLAGS.bases, FLAGS.variants, budgets, FLAGS.policies, parse_seeds(FLAGS.seeds))
  settings = map_recovery.Settings(FLAGS.source_steps, FLAGS.expert_iterations, FLAGS.noise_share)
  rows, _ = map_recovery.run(FLAGS.root_dir, cases, settings)
  path = map_recovery_report.write(FLAGS.root_dir, FLAGS.out_dir or os.path.join(FLAGS.root_dir, "report"))
  console.out(map_recovery_report.terminal_table(rows) + f"\nreport (every row in {FLAGS.root_dir}): {path}")
  return 0
