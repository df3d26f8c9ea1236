"""bin/spam_main end to end at smoke size, read back as a user would, and its bad-input errors."""
import glob
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.conftest import kill_tree, user_env


def spam_main(repo_root, *args, output=subprocess.PIPE):
  return subprocess.Popen([sys.executable, os.path.join(repo_root, "bin", "spam_main"), *args],
                          stdout=output, stderr=output, text=True, cwd=repo_root, env=user_env())


def unit_dir(root, stage, seed=0, kind="run_dirs"):
  """A stage's unit folder (or TensorBoard run: kind="log_dirs") for a seed, from summary.json."""
  summary = json.load(open(os.path.join(root, "summary.json")))
  return os.path.join(root, summary[stage][kind][summary["seeds"].index(seed)])


def assert_one_line_error(proc, err, expected, context=None):
  """The whole stderr is exactly one line, the project's error (exit 1)."""
  assert proc.returncode == 1, (context, err[-2000:])
  lines = err.splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (context, err[-2000:])


SMOKE_ARGS = ("--source=CartPole-v1", "--target=InvertedPendulum-v4", "--seeds=2",
              "--gin_file=configs/smoke.gin", "--methods=spam,scratch")
# Runs whose point is not Ray run their units in one process: the same results bit for
# bit (tests/test_sweep.py), without starting a Ray each time. The smoke run uses Ray.
IN_PROCESS = ("--backend=inprocess",)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, repo_root):
  root = str(tmp_path_factory.mktemp("smoke") / "cp_to_ip")
  proc = spam_main(repo_root, f"--root_dir={root}", *SMOKE_ARGS)
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  return root, out, err


CHATTER = re.compile(r"traceback|onednn|cuda|gym has been|deprecat|warning|sharding callback|"
                     r"I0000|W0000|E0000|tensorflow", re.IGNORECASE)


def test_terminal_shows_progress_lines_and_the_summary_only(smoke_run):
  """Not a terminal (a pipe): plain progress lines on stderr, the summary on stdout;
  the per-iteration detail and TensorFlow's own output are in the log file."""
  root, out, err = smoke_run
  err_lines, out_lines = err.splitlines(), out.splitlines()
  assert not CHATTER.search(out + err), (out + err)[:3000]
  assert len(err_lines) + len(out_lines) <= 40
  log = os.path.join(root, "spam_main.log")
  assert err_lines[0].startswith("CartPole-v1 -> InvertedPendulum-v4: 8 units (0 done)") and log in err_lines[0]
  progress = re.compile(r"^\[\d+:\d\d\] seed [01] (source_expert|autoencoder|target_spam|target_scratch) done")
  # a status line after 2 minutes without one (a slow or busy machine) is progress too
  status = re.compile(r"^\[\d+:\d\d\] \d+/8 units \(\d+ running\), \d+/18 iterations, ETA ")
  done_lines = [line for line in err_lines[1:] if progress.match(line)]
  assert all(progress.match(line) or status.match(line) for line in err_lines[1:]), err_lines
  assert len(done_lines) == 8  # one line per unit
  assert out_lines[0].startswith("SPAM CartPole-v1 -> InvertedPendulum-v4") and f"log: {log}" in out
  detail = open(log).read()
  for stage in ("source_expert", "target_spam", "target_scratch"):
    assert f"[seed 1 {stage}] it 3/3" in detail, stage


def test_progress_display_on_a_terminal(repo_root, tmp_path):
  """On a terminal (a pty): a redrawn progress bar, then the summary; no chatter."""
  import pty
  primary, secondary = pty.openpty()
  proc = subprocess.Popen([sys.executable, os.path.join(repo_root, "bin", "spam_main"),
                           f"--root_dir={tmp_path}/run", *SMOKE_ARGS[:2], "--seeds=1", *SMOKE_ARGS[3:]],
                          stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL, cwd=repo_root,
                          env=user_env(TERM="xterm", COLUMNS="120"))
  os.close(secondary)
  screen = b""
  while True:
    try:
      chunk = os.read(primary, 65536)
    except OSError:  # EIO: the process closed the terminal
      break
    if not chunk:
      break
    screen += chunk
  os.close(primary)
  assert proc.wait(timeout=60) == 0, screen[-3000:]
  text = screen.decode("utf-8", "replace")
  assert "\x1b[" in text and "━" in text  # redrawn in place: a rich bar, not plain lines
  assert "4/4 units" in text and "SPAM CartPole-v1 -> InvertedPendulum-v4" in text
  assert not CHATTER.search(text), text[-3000:]


def test_summary_json_has_every_result(smoke_run):
  root, out, _ = smoke_run
  summary = json.load(open(os.path.join(root, "summary.json")))
  assert (summary["source"], summary["target"], summary["seeds"]) == ("CartPole-v1", "InvertedPendulum-v4", [0, 1])
  for stage, iterations in (("source_expert", 3), ("target_spam", 3), ("target_scratch", 3)):
    s = summary[stage]
    assert set(s) >= {"iterations_to_convergence", "final_eval_return", "eval_returns"}
    assert len(s["eval_returns"]) == 2 and all(len(r) == iterations + 1 for r in s["eval_returns"])
  # No criterion in the gin files: gymnasium's "solved" thresholds, recorded per task with the
  # random policy's mean return (CartPole: about 22 a random episode, InvertedPendulum: about 6).
  tasks = summary["tasks"]
  assert (tasks["source"]["criterion"], tasks["target"]["criterion"]) == (475.0, 950.0)
  assert summary["source_expert"]["criterion"] == 475.0 and summary["target_spam"]["criterion"] == 950.0
  assert 15 < tasks["source"]["floor"] < 30 and 2 < tasks["target"]["floor"] < 12, tasks
  assert json.load(open(os.path.join(root, "tasks", "CartPole-v1.json")))["floor"] == tasks["source"]["floor"]
  # The paper's ratios, counted by hand from the weights the units kept (Defs. 4.1, 4.2).
  ae, spam = summary["autoencoder"], summary["target_spam"]
  sparsity, kept = [], []
  for seed in (0, 1):
    with np.load(os.path.join(unit_dir(root, "autoencoder", seed), "codes.npz")) as codes:
      reconstruction = codes["reconstruction"][0]
    assert ae["zero_ratio_per_seed"][seed] == np.count_nonzero(reconstruction == 0) / reconstruction.size
    with np.load(os.path.join(unit_dir(root, "target_spam", seed), "policy_weights.npz")) as saved:
      start_zeros, final_zeros = saved["start"] == 0, saved["final"] == 0
    sparsity.append(np.count_nonzero(final_zeros) / np.count_nonzero(start_zeros))
    kept.append(np.count_nonzero(start_zeros & final_zeros) / np.count_nonzero(start_zeros))
  assert spam["sparsity_ratio"] == pytest.approx(np.mean(sparsity))
  assert spam["zeros_kept_fraction"] == pytest.approx(np.mean(kept))
  assert os.path.isdir(os.path.join(root, spam["saved_model"]))
  assert "summary.json" in out and "tensorboard --logdir" in out
  assert os.path.exists(os.path.join(root, "config.gin"))
  transfer = json.load(open(os.path.join(unit_dir(root, "target_spam"), "transfer.json")))
  assert transfer["hidden_0/kernel"] == "copied" and transfer["head/kernel"] == "logit_difference"


def test_tensorboard_has_returns_sparsity_and_histograms(smoke_run):
  import tensorflow as tf
  from tensorboard.backend.event_processing import event_accumulator as ea
  root, _, _ = smoke_run
  def tags(stage, seed):
    acc = ea.EventAccumulator(unit_dir(root, stage, seed, "log_dirs"), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    return set(acc.Tags()["tensors"])

  runs = {os.path.dirname(p) for p in glob.glob(os.path.join(root, "logs", "**", "events.out.*"),
                                                recursive=True)}
  assert len(runs) == 9  # a TensorBoard run per unit, and the experiment's own
  acc = ea.EventAccumulator(os.path.join(root, "logs", "experiments", "main"), size_guidance={ea.TENSORS: 0})
  acc.Reload()
  assert {"Task/TargetCriterion", "Task/TargetRandomFloor", "Normalized/spam", "Normalized/scratch"} <= set(
      acc.Tags()["tensors"])
  criterion = acc.Tensors("Task/TargetCriterion")[0]
  assert float(tf.make_ndarray(criterion.tensor_proto)) == 950.0  # InvertedPendulum-v4's reward_threshold
  for seed in (0, 1):
    for stage in ("source_expert", "target_spam", "target_scratch"):
      assert {"Eval/AverageReturn", "Train/AverageReturn", "Train/Loss", "Perf/EnvStepsPerSecond",
              "Weights/Start", "Weights/Final"} <= tags(stage, seed), (stage, seed)
    assert {"Sparsity/ZeroRatio", "Sparsity/SparsityRatio",
            "Sparsity/ZerosKeptFraction"} <= tags("target_spam", seed)
    assert "Autoencoder/ReconstructionMSE" in tags("autoencoder", seed)


def test_tensorboard_runs_carry_hparams_to_filter_by(smoke_run):
  from tensorboard.backend.event_processing import event_accumulator as ea
  from tensorboard.plugins.hparams import plugin_data_pb2
  root, _, _ = smoke_run
  for stage, method in (("source_expert", "expert"), ("target_spam", "spam"), ("target_scratch", "scratch")):
    acc = ea.EventAccumulator(unit_dir(root, stage, 1, "log_dirs"), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    content = acc.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    values = {name: (value.string_value or value.number_value) for name, value in hparams.items()}
    # A scratch run has no source (it serves every experiment with its target and config).
    assert values == {"method": method, "seed": 1, "stage": stage,
                      "source": "none" if method == "scratch" else "CartPole-v1",
                      "target": "CartPole-v1" if method == "expert" else "InvertedPendulum-v4"}


def test_exported_target_policy_loads_with_plain_tensorflow(smoke_run):
  root, _, _ = smoke_run
  saved_model = os.path.join(root, json.load(open(os.path.join(root, "summary.json")))["target_spam"]["saved_model"])
  code = textwrap.dedent(f"""
      import os, sys
      os.environ["TF_USE_LEGACY_KERAS"] = "1"
      import numpy as np, tensorflow as tf
      from tf_agents.trajectories import time_step as ts
      policy = tf.saved_model.load({saved_model!r})
      action = policy.action(ts.restart(tf.zeros((3, 4)), batch_size=3)).action.numpy()
      assert "spam_tf" not in sys.modules
      assert action.shape == (3, 1) and np.all(np.abs(action) <= 3.0), action
  """)
  subprocess.run([sys.executable, "-c", code], check=True)


def test_rerun_of_a_finished_root_reuses_results(smoke_run, repo_root):
  """Every unit is reused: the results are the same; only the provenance (this
  invocation's date and wall time) is new."""
  root, _, _ = smoke_run
  before = json.load(open(os.path.join(root, "summary.json")))
  proc = spam_main(repo_root, f"--root_dir={root}", *SMOKE_ARGS)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-2000:]
  after = json.load(open(os.path.join(root, "summary.json")))
  assert after.pop("provenance")["started_unix"] > before.pop("provenance")["started_unix"]
  assert after == before


def test_reusing_source_experts_skips_f1(smoke_run, repo_root, tmp_path):
  root, _, _ = smoke_run
  new_root = str(tmp_path / "reuse")
  proc = spam_main(repo_root, "--source=CartPole-v1", "--target=CartPole-v1", f"--root_dir={new_root}",
                   "--seeds=2", "--gin_file=configs/smoke.gin", "--methods=spam,scratch",
                   f"--source_expert_dir={root}", *IN_PROCESS)
  _, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-2000:]
  summary = json.load(open(os.path.join(new_root, "summary.json")))
  old = json.load(open(os.path.join(root, "summary.json")))
  assert summary["source_expert"]["eval_returns"] == old["source_expert"]["eval_returns"]
  assert not os.path.exists(os.path.join(new_root, "units", "expert"))
  assert unit_dir(new_root, "source_expert") == os.path.join(new_root, os.path.relpath(
      unit_dir(root, "source_expert"), new_root))
  transfer = json.load(open(os.path.join(unit_dir(new_root, "target_spam"), "transfer.json")))
  assert set(transfer.values()) == {"copied"}  # same task: the whole reconstruction is the start


def created_files(pattern):
  """{path: its inode change time (creation, or the last change)} of the files matching
  the glob pattern."""
  created = {}
  for path in glob.glob(pattern, recursive=True):
    try:
      created[path] = os.stat(path).st_ctime_ns
    except FileNotFoundError:  # renamed or removed between the glob and the stat
      pass
  return created


def kill_when_new(proc, pattern, delay, timeout=300):
  """Kills proc and all it started `delay` seconds after a file matching the glob
  pattern, and not there when proc started, appears.

  A file is new if its path is new or it changed since (its ctime): a rerun recreates a
  killed export's saved_model.tmp at the same path.
  """
  before = created_files(pattern)
  deadline = time.time() + timeout
  while created_files(pattern).items() <= before.items():
    assert proc.poll() is None and time.time() < deadline, f"{pattern} never appeared"
    time.sleep(0.01)
  time.sleep(delay)
  kill_tree(proc)


# Where each kill lands, in the order a smoke run reaches them (each rerun resumes
# and is killed at the next one); max random delay after the marker appears.
# (An autoencoder starts only when its seed's expert has its result.json, after the
# export: so no autoencoder exists yet at the second kill.)
KILL_POINTS = [
    # An expert's last iteration and export take 0.4 s after its checkpoint here: a
    # longer delay could let both seeds' experts finish, leaving the next kill no export.
    ("expert training", "units/expert/**/checkpoints/ckpt-*.index", 0.1),
    # An expert's export: its seed's autoencoder cannot have started yet (a scratch run's
    # export may come after both autoencoders exist, leaving the next kill nothing new).
    ("SavedModel export", "units/expert/**/saved_model.tmp", 0.3),
    ("autoencoder training", "units/autoencoder/*/*/seed_*", 0.5),
    ("between units (a unit of one seed just finished)", "units/**/result.json", 0.0),
    ("target training", "units/target/**/checkpoints/ckpt-*.index", 0.5),
]


def test_sigkill_at_each_stage_then_rerun_equals_uninterrupted(smoke_run, repo_root, tmp_path):
  """SIGKILL at random points (seeded delays) in each named stage, rerunning the same
  command after each kill; the run that finally completes has the numbers of the
  uninterrupted run, and no temporary file is left."""
  import random
  delays = random.Random(0)
  root, _, _ = smoke_run
  killed_root = str(tmp_path / "killed")
  for where, marker, max_delay in KILL_POINTS:
    # Output to /dev/null: a full pipe nobody reads would stall the run before the marker.
    proc = spam_main(repo_root, f"--root_dir={killed_root}", *SMOKE_ARGS, *IN_PROCESS, output=subprocess.DEVNULL)
    kill_when_new(proc, os.path.join(killed_root, marker), delays.uniform(0, max_delay))
    assert not os.path.exists(os.path.join(killed_root, "summary.json")), where
  proc = spam_main(repo_root, f"--root_dir={killed_root}", *SMOKE_ARGS, *IN_PROCESS)
  _, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-2000:]
  resumed = json.load(open(os.path.join(killed_root, "summary.json")))
  whole = json.load(open(os.path.join(root, "summary.json")))
  for stage in ("source_expert", "target_spam", "target_scratch"):
    assert resumed[stage]["eval_returns"] == whole[stage]["eval_returns"], stage
  assert resumed["autoencoder"]["zero_ratio"] == whole["autoencoder"]["zero_ratio"]
  assert resumed["target_spam"]["sparsity_ratio"] == whole["target_spam"]["sparsity_ratio"]
  leftovers = [p for p in glob.glob(os.path.join(killed_root, "**", "*"), recursive=True)
               if os.path.basename(p).startswith(".tmp-") or p.endswith(".tmp")]
  assert leftovers == []


def test_corrupt_source_expert_is_refused(repo_root, tmp_path):
  expert = tmp_path / "old" / "units" / "expert" / "CartPole-v1" / "0123456789" / "seed_0"
  expert.mkdir(parents=True)
  (expert / "result.json").write_text(json.dumps({"env_id": "CartPole-v1"}))
  (expert / "policy_weights.npz").write_bytes(b"not an npz file")
  proc = spam_main(repo_root, f"--root_dir={tmp_path}/new", "--seeds=1", "--target=CartPole-v1",
                   "--gin_file=configs/smoke.gin", f"--source_expert_dir={tmp_path}/old")
  _, err = proc.communicate(timeout=300)
  assert_one_line_error(proc, err, "error: corrupt source expert")


# Errors found before any worker starts: checked in-process (fast); the CLI turns
# these exception types into one line and exit 1, which the subprocess cases show.
EARLY_BAD_INPUTS = [
    (dict(source="NoSuchEnv-v0"), "unknown or unavailable gymnasium env"),
    (dict(target="FrozenLake-v1"), "observation space"),
    (dict(gin_files=["configs/does_not_exist.gin"]), "config file not found"),
    (dict(gin_bindings=["train_eval.no_such_parameter=3"]), "bad config"),
    (dict(gin_bindings=["train_eval.iterations=((("]), "bad config"),
    (dict(gin_bindings=["target/train_eval.batch_steps=0"]), "must be a positive integer"),
    (dict(gin_bindings=["train_eval.weight_snapshots=5"]), "weight_snapshots must be a list"),
    (dict(source_expert_dir="/nonexistent/expert"), "no finished source expert"),
    (dict(root_dir="/etc/passwd/run"), "cannot write to root_dir"),
    # Transfer problems are found before any training, not after the experts.
    (dict(gin_bindings=["transfer.head_strategy='magic'"]), "unknown head_strategy"),
    (dict(methods=["spam", "magic"]), "unknown start-point method"),
    # Its one experiment goes unnamed (its user named none): no "main: " before the message.
    (dict(methods=["zoo_mean"], seeds=[1000]), r"^zoo seeds \[1000\] are also experiment seeds"),
    (dict(gin_bindings=["transfer.observation_map=(0, 1)"]), "observation_map must list"),
    (dict(source="InvertedPendulum-v4", target="CartPole-v1",
          gin_bindings=["target/actor_network.fc_layer_params=(64,)"]), "hidden layers"),
    # A criterion a random policy already reaches (a task without one is judged by the fallback).
    (dict(gin_bindings=["success_criterion.returns={'CartPole-v1': 10}"]), "at or above the criterion 10"),
]


@pytest.mark.parametrize("overrides,expected", EARLY_BAD_INPUTS)
def test_bad_input_raises_a_user_error(overrides, expected, tmp_path, repo_root, monkeypatch):
  from spam_tf import cli
  from spam_tf.running import sweep
  monkeypatch.chdir(repo_root)
  args = dict(source="CartPole-v1", target="InvertedPendulum-v4", root_dir=str(tmp_path / "r"),
              seeds=[0], gin_files=["configs/smoke.gin"], gin_bindings=[])
  args.update(overrides)
  with pytest.raises(cli._user_errors(), match=expected):
    sweep.run_single(**args)
  # Nothing written that a corrected rerun would trip over.
  assert not os.path.exists(os.path.join(args["root_dir"], "summary.json"))
  assert not os.path.exists(os.path.join(args["root_dir"], "run.json"))


@pytest.mark.parametrize("text", ["0", "-2", "a,b", "1,1", ""])
def test_bad_seeds(text):
  from spam_tf import cli
  with pytest.raises(ValueError):
    cli.parse_seeds(text)


def test_a_repeated_list_flag_keeps_every_occurrence():
  # absl's DEFINE_list keeps only the last --reuse_units_from of two: a sweep then
  # silently trained what the first root held.
  from absl import flags
  from spam_tf import cli
  flag_values = flags.FlagValues()
  cli.define_repeatable_list("roots", "Roots.", flag_values=flag_values)
  flag_values(["prog", "--roots=runs/a,runs/b", "--roots=runs/c"])
  assert cli.repeatable_list("roots", flag_values) == ["runs/a", "runs/b", "runs/c"]
  flag_values.unparse_flags()
  flag_values(["prog"])
  assert cli.repeatable_list("roots", flag_values) == []


def test_spam_sweep_reads_every_reuse_units_from(tmp_path, repo_root):
  # The first of two roots is checked (and refused) only if the binary kept it.
  os.makedirs(tmp_path / "finished" / "units")
  proc = subprocess.run(
      [sys.executable, "bin/spam_sweep", "--sweep=configs/sweeps/paper.gin", f"--root_dir={tmp_path / 'r'}",
       f"--reuse_units_from={tmp_path / 'missing'}", f"--reuse_units_from={tmp_path / 'finished'}"],
      capture_output=True, text=True, cwd=repo_root, env=user_env(), timeout=300)
  assert proc.returncode == 1
  assert proc.stderr == f"error: --reuse_units_from: no units/ folder in {tmp_path / 'missing'}\n"


BAD_INPUTS = [
    (["--source=NoSuchEnv-v0"], "unknown or unavailable gymnasium env"),
    (["--gin_bindings=train_eval.iterations=((("], "bad config"),
    (["--gin_bindings=train_eval.iterations=-1"], "must be a positive integer"),
    (["--seeds=a,b"], "invalid literal"),
    (["--source=InvertedPendulum-v4", "--target=CartPole-v1",
      "--gin_bindings=target/actor_network.fc_layer_params=(64,)"], "hidden layers"),
]


def test_bad_input_is_one_line_and_exit_1(repo_root, tmp_path):
  procs = []
  for i, (args, _) in enumerate(BAD_INPUTS):
    procs.append(spam_main(repo_root, f"--root_dir={tmp_path}/r{i}", "--seeds=1",
                           "--gin_file=configs/smoke.gin", *args))
  for proc, (args, expected) in zip(procs, BAD_INPUTS):
    _, err = proc.communicate(timeout=600)
    assert_one_line_error(proc, err, expected, args)


def spam_eval(repo_root, *args):
  return subprocess.Popen([sys.executable, os.path.join(repo_root, "bin", "spam_eval"), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=repo_root,
                          env=user_env())


def test_spam_eval_runs_an_exported_policy_reproducibly(smoke_run, repo_root, tmp_path):
  from spam_tf.rl import evaluate
  root, _, _ = smoke_run
  saved_model = os.path.join(unit_dir(root, "target_spam"), "saved_model")
  proc = spam_eval(repo_root, f"--saved_model={saved_model}", "--episodes=3", "--seed=5",
                   f"--json={tmp_path}/eval.json")
  out, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-2000:]
  results = json.load(open(tmp_path / "eval.json"))
  assert results["env_id"] == "InvertedPendulum-v4"  # read from the result.json beside it
  assert len(results["returns"]) == 3 and all(length > 0 for length in results["lengths"])
  assert f"mean return {results['mean_return']:.1f}" in out
  # The same seed in another process gives the same episodes.
  again = evaluate.evaluate(saved_model, "InvertedPendulum-v4", 3, seed=5)
  assert again["returns"] == results["returns"] and again["lengths"] == results["lengths"]


def test_spam_eval_bad_inputs_are_one_line_errors(smoke_run, repo_root, tmp_path):
  import shutil
  import tensorflow as tf
  root, _, _ = smoke_run
  policy_dir = os.path.join(unit_dir(root, "target_spam"), "saved_model")
  (tmp_path / "empty").mkdir()
  module = tf.Module()
  module.double = tf.function(lambda x: 2 * x, input_signature=[tf.TensorSpec([None], tf.float32)])
  tf.saved_model.save(module, str(tmp_path / "not_a_policy"))
  shutil.copytree(policy_dir, tmp_path / "copied_policy")  # no result.json beside it
  cases = [
      ([], "--saved_model is required"),
      ([f"--saved_model={tmp_path}/missing"], "no SavedModel directory"),
      ([f"--saved_model={tmp_path}/empty", "--env=CartPole-v1"], "is not a SavedModel"),
      ([f"--saved_model={tmp_path}/not_a_policy", "--env=CartPole-v1"], "not a TF-Agents policy"),
      ([f"--saved_model={tmp_path}/copied_policy"], "pass --env"),
      ([f"--saved_model={policy_dir}", "--env=Pendulum-v1"], "takes observations of shape (4,)"),
      ([f"--saved_model={policy_dir}", "--env=CartPole-v1"], "do not fit CartPole-v1"),
      ([f"--saved_model={policy_dir}", "--episodes=0"], "--episodes"),
  ]
  procs = [spam_eval(repo_root, *args) for args, _ in cases]
  for proc, (args, expected) in zip(procs, cases):
    out, err = proc.communicate(timeout=300)
    assert_one_line_error(proc, err, expected, args)
    assert out == "", (args, out)


@pytest.mark.parametrize("source,target,head", [
    ("CartPole-v1", "Acrobot-v1", "overlap"),     # 2 -> 3 actions, 4 -> 6 observations
    ("Pendulum-v1", "Reacher-v4", "overlap"),     # 1 -> 2 action dims, 3 -> 11 observations
])
def test_default_transfer_runs_for_other_space_pairs(source, target, head, repo_root, tmp_path):
  root = str(tmp_path / "run")
  proc = spam_main(repo_root, f"--source={source}", f"--target={target}", f"--root_dir={root}",
                   "--seeds=1", "--gin_file=configs/smoke.gin", "--methods=spam", *IN_PROCESS,
                   "--gin_bindings=success_criterion.returns={'Pendulum-v1': -200}")  # it has no reward_threshold
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-2000:]
  summary = json.load(open(os.path.join(root, "summary.json")))
  assert (summary["source"], summary["target"]) == (source, target)
  how = json.load(open(os.path.join(unit_dir(root, "target_spam"), "transfer.json")))
  assert how["hidden_0/kernel"] == "reinit" and how["hidden_1/kernel"] == "copied"
  assert how["head/kernel"] == how["head/bias"] == head


def test_every_start_point_method_end_to_end(smoke_run, repo_root, tmp_path):
  """All seven methods on CartPole -> CartPole (same shapes: the start point is carried
  over whole), reusing the smoke run's experts: each target run starts from exactly what
  its method claims."""
  from spam_tf.rl import snapshots
  from spam_tf.spam import autoencoder
  root, _, _ = smoke_run
  new_root = str(tmp_path / "methods")
  proc = spam_main(repo_root, "--source=CartPole-v1", "--target=CartPole-v1", f"--root_dir={new_root}",
                   "--seeds=1", "--gin_file=configs/smoke.gin", f"--source_expert_dir={root}",
                   "--methods=scratch,spam,copy,prune,relu,relu_prune,noise", *IN_PROCESS)
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-2000:]
  summary = json.load(open(os.path.join(new_root, "summary.json")))
  methods = ["scratch", "spam", "copy", "prune", "relu", "relu_prune", "noise"]
  assert summary["methods"] == methods and all(f"target_{m}" in out for m in methods)
  expert = snapshots.load(unit_dir(root, "source_expert"))
  reconstruction = autoencoder.load_reconstruction(unit_dir(new_root, "autoencoder"))
  start = {m: snapshots.load(unit_dir(new_root, f"target_{m}"), "start") for m in methods}
  np.testing.assert_array_equal(start["spam"], reconstruction)
  np.testing.assert_array_equal(start["copy"], expert)
  np.testing.assert_array_equal(start["relu"], np.maximum(expert, 0))
  zeros = np.sum(reconstruction == 0)
  for method in ("prune", "relu_prune"):
    assert np.sum(start[method] == 0) == zeros, method
    assert summary[f"target_{method}"]["zero_ratio"] == summary["autoencoder"]["zero_ratio"]
  assert np.linalg.norm(start["noise"] - expert) == pytest.approx(np.linalg.norm(reconstruction - expert), rel=1e-5)
  assert not np.array_equal(start["scratch"], expert)
