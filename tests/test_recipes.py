"""WORKSPACE.md's recipes, followed step by step: a start-point method, a task, an experiment
in a sweep, a statistic in the report. If a recipe changes, this file changes with it.

The sweeps run in this process (backend 'inprocess', smoke size), so that what a test
registers (a method, a score) is what the units see.
"""
import json
import os

import numpy as np
import pytest

from spam_tf.analysis import report
from spam_tf.analysis import scores as scores_lib
from spam_tf.rl import snapshots
from spam_tf.running import sweep
from spam_tf.spam import start_points
from tests import test_report
from tests.conftest import run_sweep_in_process

BASE_SWEEP = """
sweep.experiments = [
    {'name': 'cp', 'source': 'CartPole-v1', 'target': 'CartPole-v1',
     'gin_files': ['configs/paper_4_1_compression.gin']},
]
sweep.methods = ['scratch', 'copy']
sweep.seeds = 1
sweep.gin_files = ['configs/smoke.gin']
"""


def run_sweep(repo_root, tmp_path, name, sweep_text, reuse_from=()):
  return run_sweep_in_process(repo_root, tmp_path, name, sweep_text, reuse_from)


@pytest.fixture(scope="module")
def base_root(repo_root, tmp_path_factory):
  """A finished sweep to build on: CartPole's expert, autoencoder, scratch and copy."""
  root, _ = run_sweep(repo_root, tmp_path_factory.mktemp("recipes"), "base", BASE_SWEEP)
  return root


def test_recipe_add_a_start_point_method(base_root, repo_root, tmp_path, monkeypatch):
  # 1. One function StartInputs -> vector (source layout) in spam_tf/spam/start_points.py ...
  def halve(inputs):
    return np.asarray(inputs.expert, np.float32) * 0.5

  # 2. ... and one line in METHODS naming what it reads besides M*: nothing.
  monkeypatch.setitem(start_points.METHODS, "halve", (halve, "expert"))
  # 3. Name it in a sweep's methods (or --methods) and run; --reuse_units_from keeps the expert.
  root, summary = run_sweep(repo_root, tmp_path, "halve", BASE_SWEEP.replace("['scratch', 'copy']", "['halve']"),
                            reuse_from=[base_root])
  provenance = summary["provenance"]
  assert (provenance["units"], provenance["units_finished_before"]) == (2, 1)  # only 'halve' trained
  experiment = summary["experiments"]["cp"]
  expert = snapshots.load(os.path.join(root, experiment["source_expert"]["run_dirs"][0]), "final")
  start = snapshots.load(os.path.join(root, experiment["target_halve"]["run_dirs"][0]), "start")
  np.testing.assert_array_equal(start, expert * np.float32(0.5))  # same task: the start is carried over as is


def test_recipe_add_a_task(repo_root, tmp_path):
  # 1. A gymnasium env of one's own, registered by a module named in its id.
  task = "tests.toy_task:SpamChase-v0"
  # 2. Its task gin file: the return that counts as success (its spec has no reward_threshold).
  task_gin = tmp_path / "chase_task.gin"
  task_gin.write_text(f"success_criterion.returns = {{'{task}': 10.0}}\n")
  # 3. Run it as a source and a target like any env id.
  _, summary = run_sweep(repo_root, tmp_path, "chase", f"""
sweep.experiments = [{{'name': 'chase', 'source': '{task}', 'target': '{task}',
                      'gin_files': ['{task_gin}']}}]
sweep.methods = ['scratch', 'spam']
sweep.seeds = 1
sweep.gin_files = ['configs/smoke.gin']
""")
  experiment = summary["experiments"]["chase"]
  for stage in ("source_expert", "target_scratch", "target_spam"):
    assert experiment[stage]["criterion"] == 10.0, stage
    assert experiment[stage]["env_id"] == task
  assert all(0 <= r <= 10 for r in experiment["target_spam"]["eval_returns"][0])
  assert experiment["tasks"]["target"]["criterion"] == 10.0


def test_recipe_add_an_experiment_to_a_sweep(base_root, repo_root, tmp_path):
  # 1. One more dict in the sweep file's sweep.experiments ...
  grown = BASE_SWEEP.replace("]\nsweep.methods", """    {'name': 'cp_to_ip', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin']},
]
sweep.methods""")
  # 2. ... run on a new root_dir, linking what the old root finished (a root keeps one sweep).
  root, summary = run_sweep(repo_root, tmp_path, "grown", grown, reuse_from=[base_root])
  assert list(summary["experiments"]) == ["cp", "cp_to_ip"]
  provenance = summary["provenance"]
  # Old: expert, autoencoder, scratch and copy on CartPole; new: scratch and copy on InvertedPendulum.
  assert provenance["units_reused_from"] == {base_root: 4}
  assert (provenance["units"], provenance["units_finished_before"]) == (6, 4)
  old = json.load(open(os.path.join(base_root, "summary.json")))["experiments"]["cp"]
  assert summary["experiments"]["cp"]["target_copy"]["eval_returns"] == old["target_copy"]["eval_returns"]


def test_recipe_add_a_statistic_to_the_report(tmp_path, monkeypatch):
  # 1. A pure function of the eval curves [seeds, iterations + 1] -> [seeds] ...
  def best_return(greedy, stochastic, scale):
    return np.max(greedy, axis=1)

  # 2. ... and one line in spam_tf/analysis/scores.py's SCORES: the table gets its column.
  monkeypatch.setitem(scores_lib.SCORES, "best", scores_lib.Score("best return IQM [CI]", best_return))
  root = test_report.write_summary(str(tmp_path / "root"), {"toy": test_report.toy_experiment()})
  text = open(report.write(root, str(tmp_path / "out"), reps=200)).read()
  header = next(line for line in text.splitlines() if line.startswith("| method |"))
  column = [cell.strip() for cell in header.strip("|").split("|")].index("best return IQM [CI]")
  assert test_report.row(text, "spam")[column] == "10.0 [10.0, 10.0]"  # every seed reaches 10
  assert test_report.row(text, "copy")[column] == "0.0 [0.0, 0.0]"    # never leaves 0


def test_units_are_linked_from_two_roots_that_share_their_deps(base_root, repo_root, tmp_path):
  # B linked the expert and scratch from the base root; a root reusing from B first, then
  # the base, finds the expert in B and must still take the units trained from that very
  # expert (the same files) from the base: the autoencoder and copy. Nothing trains.
  only_scratch = BASE_SWEEP.replace("['scratch', 'copy']", "['scratch']")
  shared, summary = run_sweep(repo_root, tmp_path, "shared", only_scratch, reuse_from=[base_root])
  assert summary["provenance"]["units_reused_from"] == {base_root: 2}
  _, summary = run_sweep(repo_root, tmp_path, "both", BASE_SWEEP, reuse_from=[shared, base_root])
  provenance = summary["provenance"]
  assert provenance["units_finished_before"] == provenance["units"] == 4
  assert provenance["units_reused_from"] == {shared: 2, base_root: 2}
