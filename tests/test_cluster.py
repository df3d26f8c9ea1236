"""Ray beside other Rays: a run without --ray_address starts a Ray of its own, whatever
other cluster the machine has (a stale `ray start` file, a live head, RAY_ADDRESS)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import user_env

# One unit (a CartPole scratch run at smoke size): the least that goes through Ray.
ONE_UNIT_SWEEP = """
sweep.experiments = [{'name': 'one', 'source': 'CartPole-v1', 'target': 'CartPole-v1'}]
sweep.methods = ['scratch']
sweep.seeds = 1
sweep.gin_files = ['configs/smoke.gin']
"""


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture
def ray_tmpdir():
  """A Ray temp dir of the test's own (RAY_TMPDIR), short enough for Ray's socket paths."""
  path = tempfile.mkdtemp(prefix="rt", dir="/tmp")
  yield path
  for pid in processes_with_env("RAY_TMPDIR", path):
    try:
      os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
  shutil.rmtree(path, ignore_errors=True)


def processes_with_env(name, value):
  """pids of the processes whose environment has name=value (those a test started)."""
  wanted, pids = f"{name}={value}".encode(), []
  for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
      if wanted in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"):
        pids.append(int(pid))
    except OSError:
      continue
  return pids


def run_sweep(repo_root, tmp_path, env):
  sweep_file = tmp_path / "one.gin"
  sweep_file.write_text(ONE_UNIT_SWEEP)
  return subprocess.run([sys.executable, os.path.join(repo_root, "bin", "spam_sweep"), f"--sweep={sweep_file}",
                         f"--root_dir={tmp_path / 'root'}", "--workers=1"],
                        capture_output=True, text=True, cwd=repo_root, env=env, timeout=600)


def test_a_local_run_ignores_a_stale_cluster_file_and_ray_address(repo_root, tmp_path, ray_tmpdir):
  # What a head killed without `ray stop` leaves, and an address nothing answers at.
  os.makedirs(os.path.join(ray_tmpdir, "ray"))
  with open(os.path.join(ray_tmpdir, "ray", "ray_current_cluster"), "w") as f:
    f.write(f"127.0.0.1:{free_port()}")
  proc = run_sweep(repo_root, tmp_path, user_env(RAY_TMPDIR=ray_tmpdir, RAY_ADDRESS=f"127.0.0.1:{free_port()}"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert os.path.isfile(tmp_path / "root" / "summary.json")


def test_a_local_run_beside_a_live_head_runs_on_its_own_ray(repo_root, tmp_path, ray_tmpdir):
  env = user_env(RAY_TMPDIR=ray_tmpdir, RAY_USAGE_STATS_ENABLED="0")
  ray = os.path.join(os.path.dirname(sys.executable), "ray")
  # A head with no CPUs: a unit sent there would never run.
  subprocess.run([ray, "start", "--head", f"--port={free_port()}", "--num-cpus=0", "--include-dashboard=false"],
                 capture_output=True, text=True, env=env, timeout=120, check=True)
  head = set(processes_with_env("RAY_TMPDIR", ray_tmpdir))
  assert head and os.path.isfile(os.path.join(ray_tmpdir, "ray", "ray_current_cluster"))
  proc = run_sweep(repo_root, tmp_path, env)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert os.path.isfile(tmp_path / "root" / "summary.json")
  time.sleep(1)
  assert head <= set(processes_with_env("RAY_TMPDIR", ray_tmpdir)), "the head died under the local run"
