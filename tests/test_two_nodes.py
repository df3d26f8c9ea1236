"""A sweep on a two-node Ray cluster (both nodes on this machine) that loses a node halfway.

Not in `make test` (about 3 minutes on 2 cores): `make test-cluster` runs it. The cluster
is Ray's own test cluster (ray.cluster_utils.Cluster: a head and a second node, 1 CPU
each, in a RAY_TMPDIR of the test's own); the sweep is bin/spam_sweep --ray_address, as a
user runs it against a cluster. Killing the second node freezes and SIGKILLs its raylet
and every process under it (its workers, agents) at once, as a lost machine would be.
Every Ray process the test started is stopped by pid at the end.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from tests.conftest import descendants, user_env
from tests.test_cluster import processes_with_env
from tests.test_sweep import assert_same_results, cmdline, finish, spam_sweep

pytestmark = pytest.mark.two_nodes

NO_RETRIES = """
import sys
sys.path.insert(0, {repo!r})
from spam_tf import cli
from spam_tf.running import engine
engine.RAY_TASK_RETRIES = 0  # what happens to a lost node's units without Ray's task retries
sys.argv = ["spam_sweep", *{args!r}]
cli.define_sweep_flags()
cli.run_main(cli.spam_sweep)
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory, repo_root):
  """The smoke sweep in one process: what every unit's result must equal."""
  root = str(tmp_path_factory.mktemp("two_nodes") / "in_process")
  finish(spam_sweep(repo_root, root, "--backend=inprocess"))
  return root


@pytest.fixture
def cluster(monkeypatch):
  """(cluster, second node): a head and a second node of 1 CPU each."""
  from ray.cluster_utils import Cluster  # pylint: disable=import-outside-toplevel
  tmpdir = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths have a limit
  monkeypatch.setenv("RAY_TMPDIR", tmpdir)
  monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
  cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, shutdown_at_exit=False)
  second = cluster.add_node(num_cpus=1)
  try:
    yield cluster, second
  finally:
    cluster.shutdown()
    for pid in processes_with_env("RAY_TMPDIR", tmpdir):  # anything the shutdown missed
      os.kill(pid, signal.SIGKILL)
    shutil.rmtree(tmpdir, ignore_errors=True)


def nodes_that_ran(root):
  """{Ray node id: units} over the root's result.json files."""
  counts = {}
  for path in glob.glob(os.path.join(root, "units", "**", "result.json"), recursive=True):
    node = json.load(open(path)).get("node")
    counts[node] = counts.get(node, 0) + 1
  return counts


def kill_node_when_busy(proc, root, node, after_units=1):
  """Waits until `node` has finished a unit, the sweep `after_units` units, and the node
  runs another, then SIGKILLs its raylet and every process under it at one instant (frozen
  first; if the unit ended meanwhile they are let go and the wait goes on). Returns how
  many units had finished by then."""
  raylet = node.all_processes["raylet"][0].process.pid
  deadline = time.time() + 600
  while True:
    assert proc.poll() is None and time.time() < deadline, "the second node never ran a unit"
    ran = nodes_that_ran(root)
    if ran.get(node.node_id, 0) >= 1 and sum(ran.values()) >= after_units and busy(raylet):
      tree = [raylet, *descendants(raylet)]
      signal_all(tree, signal.SIGSTOP)
      if busy(raylet):  # still running a unit, now frozen in it
        signal_all(tree, signal.SIGKILL)
        return sum(nodes_that_ran(root).values())
      signal_all(tree, signal.SIGCONT)
    time.sleep(0.05)


def busy(raylet):
  """Whether a worker under this raylet runs a unit (Ray titles it by its task)."""
  return any("ray::execute_unit" in cmdline(p) for p in descendants(raylet))


def signal_all(pids, number):
  for pid in pids:
    try:
      os.kill(pid, number)
    except ProcessLookupError:
      pass


def test_a_sweep_that_loses_a_node_finishes_with_the_same_results(cluster, reference, repo_root, tmp_path):
  cluster, second = cluster
  root = str(tmp_path / "root")
  proc = subprocess.Popen([sys.executable, os.path.join(repo_root, "bin", "spam_sweep"),
                           "--sweep=configs/sweeps/smoke.gin", f"--root_dir={root}",
                           f"--ray_address={cluster.address}"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=repo_root, env=user_env())
  finished_before = kill_node_when_busy(proc, root, second)
  out, err = finish(proc)
  assert finished_before < 14
  ran = nodes_that_ran(root)
  assert ran.get(second.node_id, 0) >= 1 and ran.get(cluster.head_node.node_id, 0) >= 1, ran
  assert sum(ran.values()) == 14  # no unit lost
  assert_same_results(reference, root)  # bit for bit; nothing the dead node half-wrote leaked
  invocations = json.load(open(os.path.join(root, "invocations.json")))
  assert invocations[-1]["units_per_node"] == ran
  assert "units per node:" in err


def test_without_task_retries_a_lost_node_stops_the_sweep_and_a_rerun_finishes_it(cluster, reference, repo_root,
                                                                                   tmp_path):
  """The retry is what carries the sweep over a lost node: without it the sweep stops (one
  line), and rerunning the command resumes what was left."""
  cluster, second = cluster
  root = str(tmp_path / "root")
  args = ["--sweep=configs/sweeps/smoke.gin", f"--root_dir={root}", f"--ray_address={cluster.address}"]
  proc = subprocess.Popen([sys.executable, "-c", NO_RETRIES.format(repo=repo_root, args=args)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=repo_root, env=user_env())
  kill_node_when_busy(proc, root, second)
  _, err = proc.communicate(timeout=600)
  assert proc.returncode == 1 and err.splitlines()[-1].startswith("error: "), err[-2000:]
  assert not os.path.exists(os.path.join(root, "summary.json"))
  cluster.remove_node(second, allow_graceful=False)
  finish(subprocess.Popen([sys.executable, os.path.join(repo_root, "bin", "spam_sweep"), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=repo_root, env=user_env()))
  assert_same_results(reference, root)


if __name__ == "__main__":  # WORKSPACE.md's cost of a lost node: wall times with and without
  # (PYTHONPATH=. .venv/bin/python tests/test_two_nodes.py)
  from ray.cluster_utils import Cluster
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  os.environ.update({"RAY_TMPDIR": tempfile.mkdtemp(prefix="rt", dir="/tmp"), "RAY_USAGE_STATS_ENABLED": "0"})
  for kill in (False, True):
    ray_cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1}, shutdown_at_exit=True)
    second = ray_cluster.add_node(num_cpus=1)
    root = tempfile.mkdtemp()
    start = time.time()
    proc = subprocess.Popen([sys.executable, os.path.join(repo, "bin", "spam_sweep"), "--sweep=configs/sweeps/smoke.gin",
                             f"--root_dir={root}/r", f"--ray_address={ray_cluster.address}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=repo, env=user_env())
    finished = kill_node_when_busy(proc, f"{root}/r", second, after_units=7) if kill else None  # halfway
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    print(f"smoke sweep on 2 nodes of 1 CPU, {'second node killed after ' + str(finished) + ' of 14 units' if kill else 'no node lost'}: "
          f"{time.time() - start:.1f} s", flush=True)
    ray_cluster.shutdown()
