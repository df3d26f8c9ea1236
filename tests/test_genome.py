"""The genome autoencoder on a zoo of experts: pure pieces on tiny inputs, the zoo's
make-up on the real sweep file, and a tiny genome sweep killed and resumed."""
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from spam_tf import files
from spam_tf.spam import genome
from tests.conftest import kill_tree, user_env
from tests.test_sweep import assert_same_results, finish, spam_sweep

GENOME_SMOKE = "configs/sweeps/genome_smoke.gin"


def test_zoo_holds_out_its_last_seeds():
  assert genome.zoo(first_seed=10, size=5, held_out_fraction=0.2) == ([10, 11, 12, 13], [14])
  assert genome.zoo(first_seed=0, size=2, held_out_fraction=0.9) == ([0], [1])  # one of each at least
  with pytest.raises(ValueError, match="zoo.size"):
    genome.zoo(size=1)
  with pytest.raises(ValueError, match="zoo.first_seed"):
    genome.zoo(first_seed=1.5)


def test_genome_settings_are_checked_before_the_zoo_trains():
  import gin
  for binding, expected in (("train_genome.epochs = 0", "epochs must be a positive integer"),
                            ("train_genome.best_fraction = 'all'", "best_fraction must be a number")):
    gin.clear_config()
    gin.parse_config(binding)
    with pytest.raises(ValueError, match=expected):
      genome.check_config()
  gin.clear_config()


def test_layer_scales_standardise_each_layer_as_a_whole():
  vectors = np.float32([[1, 3, 10, 10, 10], [3, 5, 10, 10, 10]])  # layer [2] then layer [3]
  mean, std = genome.layer_scales(vectors, [(2,), (3,)])
  np.testing.assert_array_equal(mean, [3, 3, 10, 10, 10])
  np.testing.assert_array_equal(std, np.float32([np.sqrt(2), np.sqrt(2), 1, 1, 1]))  # constant layer: std 1


def test_dead_outputs_are_those_that_ignore_a_moving_target():
  targets = np.float32([[0, 1, 5], [2, 3, 5]])
  reconstructions = np.float32([[1, 0.5, 5], [1, 3.5, 5]])  # first output stuck, last target fixed
  assert genome.dead_output_fraction(reconstructions, targets) == 0.5


def test_best_codes_are_the_highest_returns():
  codes = np.float32([[0], [1], [2], [3], [4], [5], [6], [7]])
  returns = np.float64([5, 1, 9, 3, 7, 0, 2, 8])
  np.testing.assert_array_equal(genome.best_rows(codes, returns, 0.25), [[2], [7]])
  # Ties at the k-th best return all count, whatever their place in the zoo.
  tied = np.float64([9, 1, 9, 3, 9, 0, 2, 8])
  np.testing.assert_array_equal(genome.best_rows(codes, tied, 0.25), [[0], [2], [4]])


def test_zoo_members_are_every_kept_iteration_with_its_return(tmp_path):
  run_dir = str(tmp_path / "expert")
  os.makedirs(run_dir)
  files.write_json(os.path.join(run_dir, "result.json"), {
      "seed": 7, "iterations": 3, "eval_iterations": [0, 1, 2, 3], "eval_returns": [1.0, 2.0, 4.0, 8.0]})
  files.write_npz(os.path.join(run_dir, "policy_weights.npz"), start=np.float32([0, 0]),
                  iteration_2=np.float32([2, 2]), final=np.float32([3, 3]))
  vectors, returns, seeds, iterations = genome.zoo_members([run_dir])
  np.testing.assert_array_equal(vectors, [[0, 0], [2, 2], [3, 3]])
  np.testing.assert_array_equal(returns, [1.0, 4.0, 8.0])
  assert list(seeds) == [7, 7, 7] and list(iterations) == [0, 2, 3]


def test_the_zoo_holds_only_source_experts_and_never_an_experiment_seed(repo_root, monkeypatch):
  from spam_tf.running import experiment as experiment_lib, sweep
  from spam_tf.running.experiment import ExperimentError
  monkeypatch.chdir(repo_root)
  experiments, methods, _, gin_files, gin_bindings = sweep.load("configs/sweeps/genome.gin")
  seeds = list(range(20))
  zoos, zoo_means = {}, {}
  for experiment in experiments:
    plan = experiment_lib.plan(experiment, seeds, methods, gin_files, gin_bindings)
    assert "zoo.size = 20" in plan.genomes[0].config  # the sweep file's zoo reaches the units
    for unit in plan.zoo:
      assert unit.kind == "expert" and unit.env_id == experiment.source and unit.seed not in seeds
    for seed, unit in plan.genomes.items():
      assert unit.deps == (plan.experts[seed], *plan.zoo)  # M* is never one of the zoo
      # zoo_mean reads the zoo itself and not the code size: one unit for every code size.
      zoo_mean = plan.targets[("zoo_mean", seed)]
      assert zoo_mean.deps == (plan.experts[seed], *plan.zoo) and "code_size" not in zoo_mean.config
      assert "zoo.size = 20" in zoo_mean.config
      zoo_means.setdefault((experiment.source, seed), set()).add(zoo_mean)
    if plan.genomes:
      zoos.setdefault(experiment.source, set()).add(tuple(plan.zoo))
  # Every code size of a pair learns from the same zoo (trained once).
  assert {source: len(z) for source, z in zoos.items()} == {"CartPole-v1": 1, "InvertedPendulum-v4": 1}
  assert len(zoo_means) == 2 * len(seeds) and all(len(units) == 1 for units in zoo_means.values())
  with pytest.raises(ExperimentError, match="also experiment seeds"):
    experiment_lib.plan(experiments[1], [1000], methods, gin_files, gin_bindings)


@pytest.fixture(scope="module")
def genome_sweep(tmp_path_factory, repo_root):
  root = str(tmp_path_factory.mktemp("genome") / "whole")
  finish(spam_sweep(repo_root, root, sweep=GENOME_SMOKE))
  return root


def test_genome_sweep_summary(genome_sweep):
  summary = json.load(open(os.path.join(genome_sweep, "summary.json")))
  small, large = (summary["experiments"][n] for n in ("genome_4", "genome_8"))
  assert small["methods"] == ["scratch", "copy", "genome", "genome_mean", "genome_sample", "zoo_mean"]
  assert (small["genome"]["code_size"], large["genome"]["code_size"]) == (4, 8)
  assert small["genome"]["zoo"]["run_dirs"] == large["genome"]["zoo"]["run_dirs"]  # one zoo
  for run_dir in small["genome"]["zoo"]["run_dirs"]:
    result = json.load(open(os.path.join(genome_sweep, run_dir, "result.json")))
    assert result["env_id"] == "CartPole-v1" and run_dir.startswith("units/expert/CartPole-v1/")
  # The zoo: 2 training experts and 1 held out, each with start, iterations 1 and 2, final.
  assert (small["genome"]["zoo_members"], small["genome"]["held_out_members"]) == (8, 4)
  starts = genome.load_starts(os.path.join(genome_sweep, small["genome"]["run_dirs"][0]))
  assert sorted(starts) == ["genome", "genome_mean", "genome_sample"]
  assert not np.array_equal(starts["genome_mean"], starts["genome_sample"])
  # M*'s error is measured in the zoo's unit order: M* weight-matched to the first zoo expert.
  from spam_tf.rl import snapshots
  from spam_tf.spam import alignment
  expert = snapshots.load(os.path.join(genome_sweep, small["source_expert"]["run_dirs"][0]), "final")
  reference = snapshots.load(os.path.join(genome_sweep, small["genome"]["zoo"]["run_dirs"][0]), "final")
  shapes = [tuple(s) for s in json.load(open(os.path.join(
      genome_sweep, small["source_expert"]["run_dirs"][0], "result.json")))["weight_shapes"]]
  aligned = alignment.apply(expert, alignment.match(expert, reference, shapes), shapes)
  assert small["genome"]["expert_relative_error"][0] == pytest.approx(
      np.linalg.norm(starts["genome"] - aligned) / np.linalg.norm(aligned), rel=1e-5)


def test_zoo_mean_units_start_from_the_zoos_training_experts_mean(genome_sweep):
  """The wiring: each zoo_mean target starts from genome.zoo_mean of the zoo's training
  experts (that function is checked by hand in tests/test_start_points.py), the networks
  whose codes genome_mean averages; one unit serves both code sizes."""
  from spam_tf.rl import snapshots, weights
  summary = json.load(open(os.path.join(genome_sweep, "summary.json")))["experiments"]
  small, large = summary["genome_4"], summary["genome_8"]
  assert small["target_zoo_mean"]["run_dirs"] == large["target_zoo_mean"]["run_dirs"]  # shared
  zoo_dirs = [os.path.join(genome_sweep, d) for d in small["genome"]["zoo"]["run_dirs"][:2]]  # training
  shapes = [tuple(s) for s in json.load(open(os.path.join(zoo_dirs[0], "result.json")))["weight_shapes"]]
  expected = weights.unflatten(genome.zoo_mean(zoo_dirs, shapes), shapes)
  for run_dir in small["genome"]["run_dirs"]:  # 2 experts x (start, iterations 1 and 2, final)
    with np.load(os.path.join(genome_sweep, run_dir, genome.CODES_FILE)) as codes:
      assert len(codes["returns"]) == 8 and len(codes["best"]) >= 2
  for run_dir in small["target_zoo_mean"]["run_dirs"]:
    target_start = snapshots.load(os.path.join(genome_sweep, run_dir), "start")
    target_shapes = json.load(open(os.path.join(genome_sweep, run_dir, "result.json")))["weight_shapes"]
    # The hidden layers carry over unchanged (same observation size); the head is mapped.
    for kept, want in zip(weights.unflatten(target_start, target_shapes)[:4], expected[:4]):
      np.testing.assert_array_equal(kept, want)


def test_a_genome_sweep_killed_in_its_zoo_resumes_to_the_same_results(genome_sweep, repo_root, tmp_path):
  """One experiment seed (the zoo is the whole sweep's): the units equal the whole sweep's."""
  killed_root = str(tmp_path / "killed")
  proc = spam_sweep(repo_root, killed_root, "--seeds=1", output=subprocess.DEVNULL, sweep=GENOME_SMOKE)
  pattern = os.path.join(killed_root, "units", "expert", "*", "*", "seed_100[0-9]", "result.json")
  deadline = time.time() + 300
  while not glob.glob(pattern):
    assert proc.poll() is None and time.time() < deadline, "no zoo expert finished"
    time.sleep(0.05)
  kill_tree(proc)
  assert not glob.glob(os.path.join(killed_root, "units", "genome", "*", "*", "seed_*", "result.json"))
  finish(spam_sweep(repo_root, killed_root, "--seeds=1", sweep=GENOME_SMOKE))
  assert_same_results(genome_sweep, killed_root, part=True)


def test_a_sweep_reusing_another_roots_finished_units_trains_none_equals_it_and_clears_leftovers(genome_sweep, repo_root, tmp_path):
  reusing_root = str(tmp_path / "reusing")
  # An unfinished attempt at a zoo expert in the new root: replaced by the finished one.
  zoo_expert = json.load(open(os.path.join(genome_sweep, "summary.json")))["experiments"]["genome_4"]["genome"]["zoo"]
  os.makedirs(os.path.join(reusing_root, zoo_expert["run_dirs"][0]))
  open(os.path.join(reusing_root, zoo_expert["run_dirs"][0], "progress.json"), "w").write("{}")
  _, progress_lines = finish(spam_sweep(repo_root, reusing_root, f"--reuse_units_from={genome_sweep}", sweep=GENOME_SMOKE))
  assert_same_results(genome_sweep, reusing_root)
  provenance = json.load(open(os.path.join(reusing_root, "summary.json")))["provenance"]
  assert f"{provenance['units']} units ({provenance['units']} done)" in progress_lines.splitlines()[0]
  assert provenance["units_reused_from"] == {genome_sweep: provenance["units"]}
  assert provenance["units_finished_before"] == provenance["units"]  # nothing trained
  results = glob.glob(os.path.join(genome_sweep, "units", "**", "result.json"), recursive=True)
  assert len(results) == provenance["units"]
  for result in results:
    linked = os.path.join(reusing_root, os.path.relpath(result, genome_sweep))
    assert os.stat(linked).st_ino == os.stat(result).st_ino  # hard links, no copies
  assert os.path.samefile(os.path.join(reusing_root, zoo_expert["run_dirs"][0], "progress.json"),
                          os.path.join(genome_sweep, zoo_expert["run_dirs"][0], "progress.json"))
  events = glob.glob(os.path.join(genome_sweep, zoo_expert["log_dirs"][0], "**", "events.*"), recursive=True)
  assert events and all(os.path.samefile(e, os.path.join(reusing_root, os.path.relpath(e, genome_sweep)))
                        for e in events)  # and its TensorBoard run
  # What a link killed halfway leaves beside a unit that is finished all the same (a rerun
  # does not link it again): the next run clears it (TensorBoard would list the first as a run).
  leftovers = [os.path.join(reusing_root, zoo_expert["log_dirs"][1] + ".linking"),
               os.path.join(reusing_root, zoo_expert["run_dirs"][1] + ".old")]
  for leftover in leftovers:
    os.makedirs(leftover)
    open(os.path.join(leftover, "events.out.tfevents.1"), "w").write("")
  finish(spam_sweep(repo_root, reusing_root, f"--reuse_units_from={genome_sweep}", sweep=GENOME_SMOKE))
  assert not any(os.path.exists(leftover) for leftover in leftovers)
  assert_same_results(genome_sweep, reusing_root)
  # The report says where the units came from.
  from spam_tf.analysis import report, scores
  assert f"{provenance['units']} linked from `{os.path.basename(genome_sweep)}`" in "\n".join(report._provenance_lines(
      provenance, scores.load(reusing_root)[0]))


def test_report_has_one_genome_section_for_every_code_size(genome_sweep, repo_root, tmp_path):
  """bin/spam_report on a real genome root (its numbers are checked on hand-made sweeps,
  tests/test_report.py): the figure, one section for both code sizes, a row per start (genome_8 runs only `genome`)."""
  out = tmp_path / "report"
  proc = subprocess.run([sys.executable, os.path.join(repo_root, "bin", "spam_report"), f"--root_dir={genome_sweep}",
                         f"--out_dir={out}", "--bootstrap_reps=200"],
                        capture_output=True, text=True, cwd=repo_root, env=user_env(), timeout=300)
  assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
  text = (out / "REPORT.md").read_text()
  assert (out / "genome_CartPole_to_InvertedPendulum_by_code_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "## genome_4" not in text and text.count("### CartPole-v1 → InvertedPendulum-v4") == 1
  for start in ("| genome | 4 | 1152x |", "| genome_sample | 4 | 1152x |", "| genome | 8 | 576x |"):
    assert start in text, start
  assert "Each compression-based start against every start without a genome autoencoder, exploratory" in text
  # No tuning root and nothing declared primary: the report opens by saying it carries no verdict.
  assert text.splitlines()[2].startswith("No comparison in this report was declared primary")


SHAPES = [(3, 4), (4,), (4, 5), (5,), (5, 2), (2,), (2,)]  # 2 hidden layers, a Gaussian head


def forward(vector, obs):
  from spam_tf.rl import weights
  k0, b0, k1, b1, head, head_bias, _ = weights.unflatten(vector, SHAPES)
  return np.tanh(np.tanh(obs @ k0 + b0) @ k1 + b1) @ head + head_bias


def test_reordering_hidden_units_keeps_the_function_and_weight_matching_undoes_it():
  from spam_tf.spam import alignment
  rng = np.random.default_rng(0)
  network = rng.normal(size=sum(int(np.prod(s)) for s in SHAPES)).astype(np.float32)
  shuffled = alignment.apply(network, [rng.permutation(4), rng.permutation(5)], SHAPES)
  obs = rng.normal(size=(6, 3)).astype(np.float32)
  np.testing.assert_allclose(forward(shuffled, obs), forward(network, obs), rtol=1e-5)
  assert not np.array_equal(shuffled, network)
  found = alignment.match(shuffled, network, SHAPES)
  np.testing.assert_array_equal(alignment.apply(shuffled, found, SHAPES), network)


def test_tuning_on_the_reported_seeds_is_refused_in_one_line(genome_sweep, repo_root):
  proc = subprocess.run([sys.executable, os.path.join(repo_root, "bin", "spam_report"), f"--root_dir={genome_sweep}",
                         f"--tuning_root_dir={genome_sweep}"], capture_output=True, text=True, cwd=repo_root,
                        env=user_env(), timeout=120)
  assert proc.returncode == 1 and proc.stderr.startswith("error: --tuning_root_dir shares seeds [0, 1]"), proc.stderr
  assert len(proc.stderr.splitlines()) == 1
