"""Sweeps: unit identities and sharing, Ray vs in-process, a killed Ray worker, kill and rerun."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from spam_tf.running import experiment as experiment_lib
from tests.conftest import descendants, user_env

SMOKE_SWEEP = "configs/sweeps/smoke.gin"


def spam_sweep(repo_root, root, *args, output=subprocess.PIPE, sweep=SMOKE_SWEEP):
  return subprocess.Popen([sys.executable, os.path.join(repo_root, "bin", "spam_sweep"),
                           f"--sweep={sweep}", f"--root_dir={root}", *args],
                          stdout=output, stderr=output, text=True, cwd=repo_root, env=user_env())


def finish(proc, timeout=600):
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, err[-3000:]
  return out, err


@pytest.fixture(scope="module")
def ray_sweep(tmp_path_factory, repo_root):
  root = str(tmp_path_factory.mktemp("sweep") / "ray")
  out, err = finish(spam_sweep(repo_root, root))
  return root, out, err


def unit_results(root):
  """{unit folder relative to root: (result.json's numbers, the arrays of its .npz files)}
  of every unit."""
  found = {}
  for path in glob.glob(os.path.join(root, "units", "**", "result.json"), recursive=True):
    result = json.load(open(path))
    numbers = {k: result[k] for k in ("eval_returns", "stochastic_eval_returns", "train_returns",
                                      "loss_curve", "reconstruction_mse", "held_out_loss_curve")
               if k in result}
    arrays = {}
    for npz in sorted(glob.glob(os.path.join(os.path.dirname(path), "*.npz"))):
      with np.load(npz) as saved:
        arrays.update({f"{os.path.basename(npz)}:{k}": saved[k] for k in saved.files})
    found[os.path.relpath(os.path.dirname(path), root)] = (numbers, arrays)
  return found


def assert_same_results(a, b, part=False):
  """Root b has the units of root a with the same numbers, bit for bit; part: b ran only
  some of a's units (one of its seeds), and those are a's."""
  results_a, results_b = unit_results(a), unit_results(b)
  if part:
    assert results_b and set(results_b) < set(results_a), sorted(set(results_b) - set(results_a))
  else:
    assert sorted(results_a) == sorted(results_b)
  for unit, (numbers, arrays) in results_b.items():
    assert results_a[unit][0] == numbers, unit
    assert results_a[unit][1].keys() == arrays.keys(), unit
    for key in arrays:
      np.testing.assert_array_equal(results_a[unit][1][key], arrays[key], err_msg=f"{unit} {key}")


# --- unit identities (no training) -------------------------------------------

CONFIG = """# Parameters for build_autoencoder:
# ==============================================================================
build_autoencoder.output_activation = 'relu'

# Parameters for source/train_eval:
# ==============================================================================
source/train_eval.iterations = 4

# Parameters for target/train_eval:
# ==============================================================================
target/train_eval.batch_steps = 1000

# Parameters for train_eval:
# ==============================================================================
train_eval.num_envs = 4

# Parameters for transfer:
# ==============================================================================
transfer.observation_map = (0, 2, 1, 3)

# Parameters for zoo:
# ==============================================================================
zoo.size = 30
"""


def blocks(text):
  return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_each_unit_kind_gets_only_the_bindings_that_reach_it():
  from spam_tf.running import units
  assert blocks(units.config_for("expert", CONFIG)) == [
      "source/train_eval.iterations = 4", "train_eval.num_envs = 4"]
  assert blocks(units.config_for("autoencoder", CONFIG)) == [
      "build_autoencoder.output_activation = 'relu'", "source/train_eval.iterations = 4",
      "train_eval.num_envs = 4"]
  assert blocks(units.config_for("genome", CONFIG)) == [
      "source/train_eval.iterations = 4", "train_eval.num_envs = 4", "zoo.size = 30"]
  assert blocks(units.config_for("target", CONFIG, reads=("transfer", "autoencoder"))) == [
      "build_autoencoder.output_activation = 'relu'", "target/train_eval.batch_steps = 1000",
      "train_eval.num_envs = 4", "transfer.observation_map = (0, 2, 1, 3)"]
  assert blocks(units.config_for("target", CONFIG, reads=("transfer", "genome"))) == [
      "target/train_eval.batch_steps = 1000", "train_eval.num_envs = 4",
      "transfer.observation_map = (0, 2, 1, 3)", "zoo.size = 30"]
  assert blocks(units.config_for("target", CONFIG)) == [
      "target/train_eval.batch_steps = 1000", "train_eval.num_envs = 4"]


def test_paper_sweep_shares_units_between_experiments(repo_root, monkeypatch):
  from spam_tf.running import sweep
  from spam_tf.running import units
  monkeypatch.chdir(repo_root)
  experiments, methods, seeds, gin_files, gin_bindings = sweep.load("configs/sweeps/paper.gin", [0])
  plans = {e.name: experiment_lib.plan(e, seeds, methods, gin_files, gin_bindings) for e in experiments}
  cp_41, ip_41 = plans["paper_4_1_CartPole"], plans["paper_4_1_InvertedPendulum"]
  p42, mapped, p43 = plans["paper_4_2_transfer"], plans["paper_4_2_mapped"], plans["paper_4_3_suboptimal"]
  # One CartPole expert (and autoencoder) per seed for 4.1, 4.2, mapped 4.2 and 4.3.
  assert cp_41.experts[0] == p42.experts[0] == mapped.experts[0] == p43.experts[0]
  assert cp_41.autoencoders[0] == p42.autoencoders[0] == p43.autoencoders[0]
  # InvertedPendulum scratch runs serve 4.1 and both 4.2s; 4.3's slower f2 is its own.
  assert ip_41.targets[("scratch", 0)] == p42.targets[("scratch", 0)] == mapped.targets[("scratch", 0)]
  assert p43.targets[("scratch", 0)] != p42.targets[("scratch", 0)]
  # The map changes what a start point is; the long expert is another expert.
  assert mapped.targets[("spam", 0)] != p42.targets[("spam", 0)]
  assert plans["paper_fig3_long_expert"].experts[0] != cp_41.experts[0]
  assert plans["paper_fig3_long_expert"].targets == {}
  every = units.in_dependency_order([u for p in plans.values() for u in p.units()])
  # Per seed: 3 experts, 2 autoencoders, 7 + 7 + 6 (4.2 without its own scratch)
  # + 3 (mapped: spam, copy, relu) + 7 targets.
  assert len(every) == 3 + 2 + 7 + 7 + 6 + 3 + 7
  assert len({u.run_dir("r") for u in every}) == len(every)


FAMILY_SCRIPT = """
import os, sys
sys.path.insert(0, os.getcwd())
import spam_tf
from spam_tf.running import experiment
from spam_tf.running import worker  # registers every configurable
experiments = [experiment.Experiment("p", "CartPole-v1", "InvertedPendulum-v4", ("configs/paper_4_2_transfer.gin",))]
plan = experiment.plan(experiments[0], [0], ["scratch", "spam"])
print(plan.experts[0].family, plan.targets[("spam", 0)].family)
"""


def families(repo_root, *bindings):
  """(expert, spam target) folders of a CP -> IP plan with these bindings, in this process."""
  experiment = experiment_lib.Experiment("p", "CartPole-v1", "InvertedPendulum-v4",
                                         ("configs/paper_4_2_transfer.gin",), tuple(bindings))
  plan = experiment_lib.plan(experiment, [0], ["scratch", "spam"])
  return plan.experts[0].family, plan.targets[("spam", 0)].family


def test_a_units_folder_is_the_same_in_another_process(repo_root, monkeypatch):
  """Finished units are found again by a rerun, another process with another hash seed:
  their folders depend only on what determines them."""
  monkeypatch.chdir(repo_root)
  here = " ".join(families(repo_root))
  there = subprocess.run([sys.executable, "-c", FAMILY_SCRIPT], capture_output=True, text=True, cwd=repo_root,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, timeout=300, check=True).stdout.split()
  assert " ".join(there[-2:]) == here
  expert, spam = here.split()
  assert expert.startswith("expert/CartPole-v1/") and spam.startswith("target/InvertedPendulum-v4/spam/from_CartPole-v1/")


def test_a_units_folder_changes_exactly_when_a_setting_that_reaches_it_changes(repo_root, monkeypatch):
  monkeypatch.chdir(repo_root)
  expert, spam = families(repo_root)
  # f2's learning rate reaches the target runs, not the expert.
  lr_expert, lr_spam = families(repo_root, "target/reinforce_agent.learning_rate = 0.001")
  assert lr_expert == expert and lr_spam != spam
  # f1's reaches the expert, and through it every unit built on it.
  source_expert, source_spam = families(repo_root, "source/reinforce_agent.learning_rate = 0.001")
  assert source_expert != expert and source_spam != spam
  # The autoencoder's output reaches SPAM's start, not the expert.
  ae_expert, ae_spam = families(repo_root, "build_autoencoder.output_activation = 'linear'")
  assert ae_expert == expert and ae_spam != spam


def test_a_sweep_file_binding_anything_but_the_sweep_is_refused(repo_root, tmp_path, monkeypatch):
  from spam_tf.running import sweep
  from spam_tf.running.experiment import ExperimentError
  monkeypatch.chdir(repo_root)
  path = tmp_path / "bad.gin"
  path.write_text(open(SMOKE_SWEEP).read() + "zoo.size = 5\n")
  with pytest.raises(ExperimentError, match="binds zoo: a sweep file binds only sweep"):
    sweep.load(str(path))


def test_every_sweep_config_loads_and_plans(repo_root, monkeypatch):
  from spam_tf.running import sweep
  monkeypatch.chdir(repo_root)
  paths = sorted(glob.glob("configs/sweeps/*.gin"))
  assert {"configs/sweeps/paper.gin", "configs/sweeps/smoke.gin"} <= set(paths)
  for path in paths:
    experiments, methods, seeds, gin_files, gin_bindings = sweep.load(path)
    assert len(seeds) >= 2, path
    for e in experiments:
      experiment_lib.plan(e, seeds[:1], methods, gin_files, gin_bindings)


# --- running sweeps ------------------------------------------------------------

def test_smoke_sweep_summary_and_shared_experts(ray_sweep):
  root, out, err = ray_sweep
  summary = json.load(open(os.path.join(root, "summary.json")))
  compression, transfer = (summary["experiments"][n] for n in ("cartpole_compression", "cartpole_to_pendulum"))
  assert compression["methods"] == ["scratch", "spam", "copy"] and transfer["methods"] == ["scratch", "spam"]
  assert compression["source_expert"]["run_dirs"] == transfer["source_expert"]["run_dirs"]
  assert len(glob.glob(os.path.join(root, "units", "expert", "*", "*", "seed_*"))) == 2
  assert err.splitlines()[0].startswith("sweep smoke.gin: 14 units (0 done)")
  assert "(cartpole_to_pendulum)" in out and "(cartpole_compression)" in out


def test_in_process_backend_gives_the_same_results_as_ray(ray_sweep, repo_root, tmp_path):
  """One process running every unit in turn (TensorFlow state carried over, another
  order) against Ray's two workers: bit-identical results."""
  root, _, _ = ray_sweep
  finish(spam_sweep(repo_root, str(tmp_path / "inprocess"), "--backend=inprocess"))
  assert_same_results(root, str(tmp_path / "inprocess"))


def cmdline(pid):
  """A process's command line ('' once it is gone)."""
  try:
    return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
  except OSError:
    return ""


def alive(pid):
  """Whether pid runs (a zombie, dead but not yet reaped, does not)."""
  try:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


def ray_processes(proc, marker="ray"):
  """pids of the processes under proc (its own local Ray: GCS, raylet, workers, agents)
  whose command line holds marker; other tests' Rays are not under it."""
  return [pid for pid in descendants(proc.pid) if marker in cmdline(pid)]


# The kill tests run one of the smoke sweep's two seeds: their units are the whole
# sweep's seed-0 units, bit for bit, at half the cost.
ONE_SEED = ("--seeds=1",)  # seed 0


def test_a_killed_ray_worker_is_retried(ray_sweep, repo_root, tmp_path):
  root, _, _ = ray_sweep
  killed_root = str(tmp_path / "worker_killed")
  proc = spam_sweep(repo_root, killed_root, *ONE_SEED)
  pattern = os.path.join(killed_root, "units", "target", "**", "checkpoints", "ckpt-*.index")
  deadline = time.time() + 300
  while not glob.glob(pattern, recursive=True):
    assert proc.poll() is None and time.time() < deadline, "no target checkpoint appeared"
    time.sleep(0.05)
  busy = []
  while not busy:  # Ray titles a worker by the task it runs (ray::IDLE between tasks)
    assert proc.poll() is None and time.time() < deadline, "no Ray worker running a unit"
    busy = ray_processes(proc, "ray::execute_unit")
  os.kill(busy[0], signal.SIGKILL)
  finish(proc)
  assert_same_results(root, killed_root, part=True)


def test_a_killed_sweep_resumes_to_the_same_results_and_leaves_no_ray_behind(ray_sweep, repo_root,
                                                                             tmp_path):
  root, _, _ = ray_sweep
  killed_root = str(tmp_path / "killed")
  proc = spam_sweep(repo_root, killed_root, *ONE_SEED, output=subprocess.DEVNULL)
  pattern = os.path.join(killed_root, "units", "target", "**", "result.json")
  deadline = time.time() + 300
  while not glob.glob(pattern, recursive=True):
    assert proc.poll() is None and time.time() < deadline, "no target finished"
    time.sleep(0.05)
  # Ray's processes share the driver's fate: the workers (which write into root_dir),
  # raylet and GCS. (Its idle dashboard and runtime-env agents notice a dead raylet by
  # polling and go a minute or two later; they never touch root_dir.)
  ray = [p for p in ray_processes(proc) if not any(agent in cmdline(p) for agent in ("DashboardAgent", "RuntimeEnvAgent"))]
  assert ray, "no Ray processes under the sweep"
  proc.send_signal(signal.SIGKILL)
  proc.wait(timeout=60)

  def survivors():
    return [p for p in ray if alive(p)]
  deadline = time.time() + 30
  while survivors() and time.time() < deadline:
    time.sleep(0.5)
  assert not survivors(), "Ray processes outlived the killed sweep"
  assert not os.path.exists(os.path.join(killed_root, "summary.json"))
  finish(spam_sweep(repo_root, killed_root, *ONE_SEED))
  assert_same_results(root, killed_root, part=True)


@pytest.mark.parametrize("args,expected", [
    (["--sweep=configs/sweeps/none.gin"], "config file not found"),
    (["--backend=threads"], "--backend"),
    (["--seeds=a,b"], "invalid literal"),
    (["--experiments=nothing_*"], "--experiments: 'nothing_*' matches no experiment"),
    (["--reuse_units_from=/nonexistent"], "--reuse_units_from: no units/ folder in /nonexistent"),
])
def test_bad_sweep_input_is_one_line(args, expected, repo_root, tmp_path):
  proc = spam_sweep(repo_root, str(tmp_path / "r"), *args)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 1 and len(err.splitlines()) == 1, err[-2000:]
  assert err.startswith("error: ") and expected in err, err


def test_experiments_are_selected_by_name_patterns_in_the_sweeps_order():
  from spam_tf.running import sweep
  experiments = [experiment_lib.Experiment(name, "CartPole-v1", "CartPole-v1") for name in ("a_4", "b_4", "a_8")]
  assert [e.name for e in sweep.select(experiments, ["a_*"])] == ["a_4", "a_8"]
  assert [e.name for e in sweep.select(experiments, ["a_8", "b_*"])] == ["b_4", "a_8"]
  assert sweep.select(experiments, []) == experiments
  with pytest.raises(experiment_lib.ExperimentError, match="'c_\\*' matches no experiment; the sweep has a_4, b_4, a_8"):
    sweep.select(experiments, ["a_*", "c_*"])


def test_bad_experiment_entry_is_a_clear_error(repo_root, tmp_path, monkeypatch):
  from spam_tf.running import sweep
  monkeypatch.chdir(repo_root)
  bad = tmp_path / "bad.gin"
  bad.write_text("sweep.experiments = [{'name': 'x', 'source': 'CartPole-v1'}]\n")
  with pytest.raises(experiment_lib.ExperimentError, match="each experiment is a dict with name, source, target"):
    sweep.load(str(bad))


def test_report_of_the_smoke_sweep_runs_from_its_root(ray_sweep, repo_root, tmp_path):
  """bin/spam_report on a real root: one line on stdout, every figure a PNG, every section
  there (the numbers themselves are checked on hand-made sweeps, tests/test_report.py)."""
  root, _, _ = ray_sweep
  out = tmp_path / "report"
  proc = subprocess.run([sys.executable, os.path.join(repo_root, "bin", "spam_report"), f"--root_dir={root}",
                         f"--out_dir={out}", "--bootstrap_reps=200"],
                        capture_output=True, text=True, cwd=repo_root, env=user_env(), timeout=300)
  assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
  assert proc.stdout.strip() == f"report: {out}/REPORT.md"
  text = (out / "REPORT.md").read_text()
  summary = json.load(open(os.path.join(root, "summary.json")))
  for name in summary["experiments"]:
    assert f"]({name}_curves.png)" in text and f"## {name}:" in text
    for figure in (f"{name}_curves.png", f"{name}_profile.png"):
      assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert (out / "cartpole_compression_sparsity_along_f2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  # The answer opens the report: the smoke sweep file's default primary comparisons (2 seeds: no verdict).
  assert summary["provenance"]["commit"] in text and "| cartpole_compression | `spam` vs `scratch` |" in text
  # The sparsity table has a row per iteration the SPAM units kept weights after (1, 2; 3 is final).
  kept = [np.load(os.path.join(root, d, "policy_weights.npz")) for d in
          summary["experiments"]["cartpole_compression"]["target_spam"]["run_dirs"]]
  assert all(set(k.files) == {"start", "iteration_1", "iteration_2", "final"} for k in kept)
  assert "\n| 1 | " in text and "\n| 2 | " in text and "\n| 3 | " in text


def test_scratch_starts_where_a_transfer_leaves_the_target_untouched(ray_sweep):
  """A start point fills only what its transfer maps; the rest is the seed's fresh
  initialisation, the very one scratch starts from (transfer.json says which is which)."""
  from spam_tf.rl import weights
  root, _, _ = ray_sweep
  experiment = json.load(open(os.path.join(root, "summary.json")))["experiments"]["cartpole_to_pendulum"]
  for seed in (0, 1):
    spam_dir, scratch_dir = (os.path.join(root, experiment[f"target_{m}"]["run_dirs"][seed]) for m in ("spam", "scratch"))
    shapes = json.load(open(os.path.join(spam_dir, "result.json")))["weight_shapes"]
    how = json.load(open(os.path.join(spam_dir, "transfer.json")))
    roles = weights.roles(len(shapes), discrete=False)
    spam, scratch = (dict(zip(roles, weights.unflatten(np.load(os.path.join(d, "policy_weights.npz"))["start"], shapes)))
                     for d in (spam_dir, scratch_dir))
    assert how["head/std_bias"] == "target init" and how["hidden_0/kernel"] == "copied"
    for role in roles:
      if how[role] == "target init":
        np.testing.assert_array_equal(spam[role], scratch[role], err_msg=role)
      elif role.endswith("kernel"):  # from M_SPAM, not the fresh initialisation (biases start at 0 in both)
        assert not np.array_equal(spam[role], scratch[role]), role
