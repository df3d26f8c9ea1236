"""Determinism, divergence, corrupt state, the root_dir and unit locks."""
import glob
import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from spam_tf import files
from spam_tf.rl import checkpoints
from spam_tf.rl import snapshots
from spam_tf.rl import train
from tests.conftest import user_env

TINY = dict(iterations=3, batch_steps=300, num_envs=2, eval_episodes=2, checkpoint_interval=1)


def test_same_seed_same_results_different_seed_differs(tmp_path):
  a = train.train_eval("CartPole-v1", str(tmp_path / "a"), str(tmp_path / "a/logs"), seed=3, **TINY)
  b = train.train_eval("CartPole-v1", str(tmp_path / "b"), str(tmp_path / "b/logs"), seed=3, **TINY)
  c = train.train_eval("CartPole-v1", str(tmp_path / "c"), str(tmp_path / "c/logs"), seed=4, **TINY)
  assert a["eval_returns"] == b["eval_returns"] and a["losses"] == b["losses"]
  np.testing.assert_array_equal(snapshots.load(str(tmp_path / "a")), snapshots.load(str(tmp_path / "b")))
  assert a["losses"] != c["losses"]
  assert not np.array_equal(snapshots.load(str(tmp_path / "a")), snapshots.load(str(tmp_path / "c")))


# The exploding policy overflows numpy's matmuls on its way to a NaN loss.
@pytest.mark.filterwarnings("ignore:(overflow|invalid value) encountered:RuntimeWarning")
def test_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(tmp_path):
  import gin
  with gin.unlock_config():
    gin.bind_parameter("reinforce_agent.learning_rate", 1e38)
  try:
    with pytest.raises(train.TrainingDiverged, match="NaN or infinite"):
      train.train_eval("CartPole-v1", str(tmp_path), str(tmp_path / "logs"), seed=0,
                       **{**TINY, "iterations": 30})
  finally:
    gin.clear_config()
  assert not os.path.exists(tmp_path / "result.json")
  assert any(name.startswith("ckpt-") for name in os.listdir(tmp_path / "checkpoints"))


def test_weights_stepped_to_infinity_stop_training_even_with_a_finite_loss():
  import tensorflow as tf
  agent = types.SimpleNamespace(trainable_variables=[tf.Variable([1.0, 2.0]), tf.Variable([np.inf])])
  with pytest.raises(train.TrainingDiverged, match="weights became NaN or infinite"):
    train._train_step(lambda experience: tf.constant(0.5), None, agent, "it 3", "/ckpt")
  agent.trainable_variables[1].assign([3.0])
  assert train._train_step(lambda experience: tf.constant(0.5), None, agent, "it 3", "/ckpt") == 0.5


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
  run_dir = str(tmp_path)
  train.train_eval("CartPole-v1", run_dir, run_dir + "/logs", seed=0, **TINY)
  os.remove(os.path.join(run_dir, "result.json"))  # as if killed during the final export
  for name in os.listdir(os.path.join(run_dir, "checkpoints")):
    if name.startswith("ckpt-") and name.endswith(".data-00000-of-00001"):
      with open(os.path.join(run_dir, "checkpoints", name), "wb") as f:
        f.write(b"garbage")
  with pytest.raises(checkpoints.CorruptCheckpoint, match="delete .*checkpoints"):
    train.train_eval("CartPole-v1", run_dir, run_dir + "/logs", seed=0, **TINY)


def test_a_second_run_on_the_same_root_is_refused(tmp_path, repo_root):
  from tests.test_spam_main import spam_main
  root = str(tmp_path / "root")
  first = spam_main(repo_root, f"--root_dir={root}", "--seeds=1", "--gin_file=configs/smoke.gin",
                    "--methods=spam,scratch")
  deadline = time.time() + 120
  while not os.path.exists(os.path.join(root, "run.json")) and time.time() < deadline:
    time.sleep(0.1)
  second = spam_main(repo_root, f"--root_dir={root}", "--seeds=1", "--gin_file=configs/smoke.gin",
                     "--methods=spam,scratch")
  _, err = second.communicate(timeout=300)
  first_out, first_err = first.communicate(timeout=600)
  assert second.returncode == 1 and err.splitlines() == [f"error: another run is using {root}"], err[-1000:]
  assert first.returncode == 0, first_err[-1000:]
  assert os.path.exists(os.path.join(root, "summary.json"))


# Another process running a unit: it holds the unit's lock, finishes the unit a moment
# later (writes its result.json) and exits, as a killed run's Ray worker may.
OTHER_WORKER = """
import fcntl, json, os, sys, time
lock_path, run_dir = sys.argv[1:]
os.makedirs(os.path.dirname(lock_path), exist_ok=True)
fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(2)
os.makedirs(run_dir)
json.dump({"finished_by": "the other process"}, open(os.path.join(run_dir, "result.json"), "w"))
"""


def test_a_unit_another_process_runs_is_waited_for_and_its_result_used(tmp_path, repo_root):
  from spam_tf.terminal import console
  from spam_tf.running import worker
  from spam_tf.running import units
  root = str(tmp_path)
  unit = units.Unit("expert", "CartPole-v1", 0, open(os.path.join(repo_root, "configs", "smoke.gin")).read())
  other = subprocess.Popen([sys.executable, "-c", OTHER_WORKER, unit.lock_path(root), unit.run_dir(root)],
                           stdout=subprocess.PIPE, text=True)
  assert other.stdout.readline() == "holding\n"
  assert worker.execute_unit(root, unit, console.worker_state()) == {"finished_by": "the other process"}
  assert other.wait(timeout=60) == 0
  assert os.listdir(unit.run_dir(root)) == ["result.json"]  # nothing trained beside it


def _file_size_limit(limit_bytes):
  """preexec_fn: writes past limit_bytes fail with EFBIG (as on a full disk) instead of SIGXFSZ."""
  import resource
  import signal

  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
  return apply


def _spam_main_args(repo_root, root, *extra):
  return [sys.executable, os.path.join(repo_root, "bin", "spam_main"), f"--root_dir={root}",
          "--seeds=1", "--gin_file=configs/smoke.gin", "--methods=spam,scratch",
          # In this process: Ray's own object store cannot start under a file size limit.
          "--backend=inprocess", *extra]


def _expert_dir(root):
  """The one expert unit's folder (there is no summary.json to name it after a failure)."""
  found = glob.glob(os.path.join(root, "units", "expert", "*", "*", "seed_0"))
  assert len(found) == 1, found
  return found[0]


def _assert_progress_then_one_error(stderr, expected):
  """stderr: the progress display's plain lines, then exactly one error line."""
  lines = stderr.splitlines()
  assert lines and lines[-1].startswith("error: file error: ") and expected in lines[-1], stderr[-2000:]
  assert all(" units (" in line or line.startswith("[") for line in lines[:-1]), stderr[-2000:]


def test_a_failing_write_is_one_line_and_keeps_finished_stages(tmp_path, repo_root):
  """Files over 2 MB cannot be written (the 9 MB autoencoder cannot): a one-line error;
  a rerun without the limit reuses the stages finished before it and completes."""
  root = str(tmp_path / "root")
  args = _spam_main_args(repo_root, root, "--gin_bindings=train_eval.iterations=1")
  limited = subprocess.run(args, capture_output=True, text=True, cwd=repo_root, env=user_env(),
                           preexec_fn=_file_size_limit(2 * 2 ** 20), timeout=600)
  assert limited.returncode == 1, limited.stderr[-2000:]
  _assert_progress_then_one_error(limited.stderr, "File too large")
  expert_result = os.path.join(_expert_dir(root), "result.json")
  finished = open(expert_result).read()
  assert not os.path.exists(os.path.join(root, "summary.json"))
  rerun = subprocess.run(args, capture_output=True, text=True, cwd=repo_root, env=user_env(), timeout=600)
  assert rerun.returncode == 0, rerun.stderr[-2000:]
  assert open(expert_result).read() == finished  # reused, not retrained
  assert os.path.exists(os.path.join(root, "summary.json"))


def test_a_failing_tensorflow_write_is_one_line_and_keeps_checkpoints(tmp_path, repo_root):
  """Files over 80 KB cannot be written: the expert's checkpoint (~60 KB) is, its
  SavedModel's saved_model.pb (~100 KB, written by TensorFlow's C++) is not: one line,
  exit 1; the rerun resumes the expert from its checkpoint and completes."""
  root = str(tmp_path / "root")
  args = _spam_main_args(repo_root, root)
  limited = subprocess.run(args, capture_output=True, text=True, cwd=repo_root, env=user_env(),
                           preexec_fn=_file_size_limit(80 * 2 ** 10), timeout=600)
  assert limited.returncode == 1, limited.stderr[-2000:]
  _assert_progress_then_one_error(limited.stderr, "cannot write the SavedModel")
  assert "File too large" in limited.stderr
  rerun = subprocess.run(args, capture_output=True, text=True, cwd=repo_root, env=user_env(), timeout=600)
  assert rerun.returncode == 0, rerun.stderr[-2000:]
  expert = files.read_json(os.path.join(_expert_dir(root), "result.json"))
  assert expert["resumed_from"] == [2]  # the checkpoint written before the failure
  assert "saved_model.tmp" not in os.listdir(_expert_dir(root))
