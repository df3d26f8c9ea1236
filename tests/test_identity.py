"""Units that cannot go stale: what a unit's identity covers (gin macros as their values,
other packages' bindings; today's identities kept), the golden run that guards the
training code's version (tests/golden/training.py) and the changes it must catch, and
reruns and reuse after a change, through bin/spam_sweep.

Rewrite the golden numbers (after a change to training that is meant, with
spam_tf.running.identity.TRAINING_CODE_VERSION bumped; new package pins; new units in
GOLDEN_SWEEP; another machine): it refuses, exit 1, other numbers for a unit it holds
under the same version, pins and machine:
    .venv/bin/python tests/test_identity.py
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import gin
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__":  # run as a script: the repository's own spam_tf and tests
  sys.path.insert(0, REPO)

from spam_tf.running import identity  # noqa: E402
from tests.golden import training  # noqa: E402


# --- the golden run ---------------------------------------------------------------


def test_training_gives_the_golden_numbers_of_its_code_version(tmp_path):
  """Fails when training produces other numbers while TRAINING_CODE_VERSION stays (units
  trained before the change would be reused as if nothing had changed)."""
  golden = json.load(open(training.GOLDEN))
  assert golden["versions"] == identity.versions(), (
      "the pinned packages changed: rewrite the golden numbers (module doc); unit identities "
      "already change with the versions")
  assert golden["training_code_version"] == identity.TRAINING_CODE_VERSION, (
      "TRAINING_CODE_VERSION was bumped: rewrite the golden numbers for it (module doc)")
  # On another CPU or oneDNN setting the same code gives other last bits: there the golden's
  # sums and norms are compared to 1e-4 (the exact bytes are this machine's guard).
  elsewhere = golden["machine"] != training.machine()
  different = training.mismatches(training.golden_run(str(tmp_path)), golden["units"], approximate=elsewhere)
  assert not different, (
      f"training now gives other numbers than training code version {identity.TRAINING_CODE_VERSION} "
      f"did ({different[:5]}): if that is meant, bump spam_tf.running.identity.TRAINING_CODE_VERSION "
      "and rewrite the golden numbers (module doc)")


def test_the_golden_comparison_sees_one_ulp():
  golden = {"u/seed_0": {"result.json:losses": training.digest([0.5, 0.25]),
                         "policy_weights.npz:final": training.digest(np.float32([1.0, 2.0]))}}
  same = {"u/seed_0": {"result.json:losses": training.digest((0.5, 0.25)),
                       "policy_weights.npz:final": training.digest(np.array([1.0, 2.0], np.float32))}}
  assert training.mismatches(same, golden) == []
  changed = {"u/seed_0": {**same["u/seed_0"], "result.json:losses": training.digest([0.5, np.nextafter(0.25, 1)])}}
  assert training.mismatches(changed, golden) == ["u/seed_0: result.json:losses"]
  # Other dtypes, shapes, or None for a number are other numbers too.
  assert training.digest(np.float64([1.0, 2.0])) != training.digest(np.float32([1.0, 2.0]))
  assert training.digest([[1.0, 2.0]]) != training.digest([1.0, 2.0])
  assert training.digest([1.0, None]) != training.digest([1.0, float("nan")])
  # A run of some experiments is compared on its units only, each of which the golden must hold.
  assert training.mismatches({}, golden, subset=True) == []
  assert training.mismatches({"v/seed_0": {}}, golden, subset=True) == ["v/seed_0: not in the golden"]
  assert training.mismatches({}, golden) == ["u/seed_0: not in this run"]
  # Made on another machine: only the sums and norms count, to 1e-4.
  golden = {"u/seed_0": {"w": "abc", "w~": [1.0, 2.0]}}
  assert training.mismatches({"u/seed_0": {"w": "abd", "w~": [1.00001, 2.0]}}, golden, approximate=True) == []
  assert training.mismatches({"u/seed_0": {"w": "abc", "w~": [1.01, 2.0]}}, golden, approximate=True) == \
      ["u/seed_0: w~"]


def test_rewriting_the_golden_refuses_other_numbers_under_the_same_version(tmp_path, capsys):
  versions, here = {"tensorflow": "2.21.0"}, {"cpu": "A"}
  path = str(tmp_path / "golden.json")
  training.write_golden({"u/seed_0": {"k": "a"}}, 1, versions, path, here)  # the first golden
  before = open(path).read()
  with pytest.raises(SystemExit) as refused:
    training.write_golden({"u/seed_0": {"k": "b"}}, 1, versions, path, here)
  err = capsys.readouterr().err
  assert refused.value.code == 1 and open(path).read() == before
  assert err.count("\n") == 1 and err.startswith("error: training now gives other numbers")
  assert "u/seed_0: k" in err and "bump TRAINING_CODE_VERSION" in err
  # More coverage (a new unit, a new key), a bumped version, new package pins, another
  # machine: rewritten.
  training.write_golden({"u/seed_0": {"k": "a", "new": "c"}, "v/seed_0": {"k": "d"}}, 1, versions, path, here)
  training.write_golden({"u/seed_0": {"k": "b"}}, 2, versions, path, here)
  training.write_golden({"u/seed_0": {"k": "e"}}, 2, {"tensorflow": "2.22.0"}, path, here)
  training.write_golden({"u/seed_0": {"k": "f"}}, 2, {"tensorflow": "2.22.0"}, path, {"cpu": "B"})
  assert json.load(open(path)) == {"training_code_version": 2, "versions": {"tensorflow": "2.22.0"},
                                   "machine": {"cpu": "B"}, "units": {"u/seed_0": {"k": "f"}}}


# Edits the golden run must catch, one per copy of the code: (edit, the golden experiments
# that cover it (none: its direct computations), the units and keys that must differ, only they).
MUTATIONS = {
    # 6 envs start at batch 5000 with 900-step episodes, 5 after the edit; the golden sweep's
    # own batches (150 steps, 2 envs) start the same envs either way.
    "start_envs_floor": ({"spam_tf/rl/collect.py": ("max(1, round(batch_steps / mean_episode_length))",
                                                    "max(1, batch_steps // mean_episode_length)")},
                         [], {"direct/paper_sizes: start_envs", "direct/paper_sizes: batch_5000_mean_length_900"}),
    "value_network": ({"spam_tf/rl/agents.py": ("value_network.ValueNetwork(time_step_spec.observation,\n"
                                                "                                           fc_layer_params=(64, 64))",
                                                "value_network.ValueNetwork(time_step_spec.observation,\n"
                                                "                                           fc_layer_params=(32, 32))")},
                      ["golden_value_baseline"], {"target/Acrobot-v1/"}),
    "auto_map_score": ({"spam_tf/spam/mapping.py": ("total += candidate.action_sign * np.sum(",
                                                    "total += 0.5 * candidate.action_sign * np.sum(")},
                       ["golden_auto"], {"target/InvertedPendulum-v4/spam/"}),
    "schedule_after_decay": ({"spam_tf/rl/agents.py": ("final_learning_rate, power=1.0)",
                                                       "final_learning_rate, power=1.0, cycle=True)")},
                             ["golden_schedule"], {"target/CartPole-v1/scratch/",
                                                   "direct/paper_sizes: learning_rate_schedule"}),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_the_golden_run_catches(mutation, tmp_path):
  golden = json.load(open(training.GOLDEN))
  if golden["machine"] != training.machine():
    pytest.skip("the golden's exact bytes were written on another machine")
  edits, experiments, expected = MUTATIONS[mutation]
  code = code_copy(tmp_path, mutation, edits)
  direct = not experiments or any(e.startswith("direct/") for e in expected)
  different = training.mismatches(training.golden_run_of(code, str(tmp_path / "run"), experiments, direct),
                                  golden["units"], subset=True)
  # Where the edit bites, and nowhere else (the units it cannot reach, run beside, still match).
  assert different and all(any(d.startswith(e) for e in expected) for d in different), different
  assert all(any(d.startswith(e) for d in different) for e in expected), different


# --- what an identity covers ---------------------------------------------------------

# The identity strings (sha256) and folders of units of configs without macros or other
# packages' bindings, as the code made them before those counted (commit aaadb09): their
# units keep their folders. The versions are pinned to those of that day.
PINNED_VERSIONS = {"tensorflow": "2.21.0", "tf-keras": "2.21.0", "tensorflow-probability": "0.25.0",
                   "tf-agents": "0.19.0", "gymnasium": "1.4.0", "mujoco": "4.0.0", "numpy": "2.3.5",
                   "scipy": "1.17.1"}
TODAYS_UNITS = {
    "expert": ("b86ff8e028e4e8fb28c5278791d41bc202817b27b9ea35776fe131585ed2d71f", "expert/CartPole-v1/f7bbf5af91"),
    "scratch": ("5f60d4637ab3af1392013f93cdc245777b3f197780e0e0260d0d6282d532e1a1",
                "target/CartPole-v1/scratch/7e4a17d304"),
    "autoencoder": ("434505b434f1ec1a54bb17a23f2c8634a08dbe720f5d5a7e29d9118646264d55",
                    "autoencoder/CartPole-v1/c7238da173"),
    "spam": ("43de3b5dbd719996d44f136673d0c360eeb93d76e1d5f3ff7211d063c71ffc8a",
             "target/InvertedPendulum-v4/spam/from_CartPole-v1/a0cd05b839"),
}


def test_units_without_macros_or_other_packages_bindings_keep_todays_identities(monkeypatch):
  from spam_tf.running import experiment as experiment_lib
  monkeypatch.setattr(identity, "versions", lambda: dict(PINNED_VERSIONS))
  monkeypatch.chdir(REPO)
  try:
    plain = experiment_lib.plan(experiment_lib.Experiment("plain", "CartPole-v1", "CartPole-v1"), [0],
                                ["scratch"], ["configs/smoke.gin"], ["source/reinforce_agent.learning_rate = 0.005"])
    transfer = experiment_lib.plan(experiment_lib.Experiment("transfer", "CartPole-v1", "InvertedPendulum-v4"),
                                   [0], ["spam"], ["configs/paper_4_2_transfer.gin", "configs/smoke.gin"])
  finally:
    gin.clear_config()
  units = {"expert": plain.experts[0], "scratch": plain.targets[("scratch", 0)],
           "autoencoder": transfer.autoencoders[0], "spam": transfer.targets[("spam", 0)]}
  now = {name: (hashlib.sha256(u.identity.encode()).hexdigest(), u.family) for name, u in units.items()}
  assert now == TODAYS_UNITS


def _identity(kind, config, reads=None):
  """identity.of_unit(kind, reads) under a gin config (parsed, then cleared), as a dict."""
  from spam_tf.rl import agents  # noqa: F401  (registers TF-Agents' configurables, as the worker's imports do)
  gin.clear_config()
  try:
    gin.parse_config(config)
    return json.loads(identity.of_unit(kind, reads))
  finally:
    gin.clear_config()


def test_a_macro_counts_as_the_value_it_stands_for():
  low = _identity("expert", "LR = 0.005\nsource/reinforce_agent.learning_rate = %LR")
  high = _identity("expert", "LR = 0.007\nsource/reinforce_agent.learning_rate = %LR")
  assert low["effective_config"]["source/reinforce_agent"]["learning_rate"] == 0.005
  assert identity.differences(json.dumps(low), json.dumps(high)) == [
      "source/reinforce_agent.learning_rate 0.005 -> 0.007"]
  assert low == _identity("expert", "source/reinforce_agent.learning_rate = 0.005")  # bound directly
  nested = _identity("expert", "SIZES = (32, 32)\nLAYERS = %SIZES\nactor_network.fc_layer_params = %LAYERS")
  assert nested["effective_config"]["source/actor_network"]["fc_layer_params"] == [32, 32]


def test_other_packages_bindings_in_a_units_config_are_part_of_its_effective_configuration():
  config = ("NormalProjectionNetwork.init_means_output_factor = 0.2\n"
            "SQUASH = False\ntarget/ValueNetwork.batch_squash = %SQUASH")
  expert, target = _identity("expert", config), _identity("target", config)
  assert expert["effective_config"]["NormalProjectionNetwork"] == {"init_means_output_factor": 0.2}
  assert "target/ValueNetwork" not in expert["effective_config"]  # the expert never reads scope target/
  assert target["effective_config"]["target/ValueNetwork"] == {"batch_squash": False}
  plain = _identity("expert", "")
  assert identity.differences(json.dumps(plain), json.dumps(expert)) == [
      "NormalProjectionNetwork.init_means_output_factor unset -> 0.2"]


def test_the_automatic_maps_settings_reach_only_its_units():
  plain = _identity("target", "", "autoencoder")["effective_config"]
  automatic = _identity("target", "transfer.observation_map = 'auto'\nauto_map.probe_steps = 900",
                        "autoencoder")["effective_config"]
  # A unit without it has no auto_map section (so every unit trained before keeps its
  # folder); a unit with it carries every setting, defaults included.
  assert not any("auto_map" in name for name in plain)
  assert automatic["target/auto_map"]["probe_steps"] == 900 and automatic["target/auto_map"]["margin"] == 2.0
  assert automatic["target/transfer"]["observation_map"] == "auto"


def test_differences_name_what_changed():
  old = json.dumps({"effective_config": {"target/reinforce_agent": {"learning_rate": 0.007, "gamma": 0.99}},
                    "versions": {"tensorflow": "2.20.0"}, "training_code": 1})
  new = json.dumps({"effective_config": {"target/reinforce_agent": {"learning_rate": 0.006, "gamma": 0.99}},
                    "versions": {"tensorflow": "2.21.0"}, "training_code": 2})
  assert identity.differences(old, new) == ["training code version 1 -> 2", "tensorflow 2.20.0 -> 2.21.0",
                                            "target/reinforce_agent.learning_rate 0.007 -> 0.006"]
  assert identity.differences(new, new) == []
  assert "predates" in identity.differences(None, new)[0]
  assert identity.binding_differences("# Parameters for a:\na.x = 1\na.y = {'k':\n    2}\n", "a.x = 3\n") == [
      "a.x 1 -> 3", "a.y {'k': 2} -> unset"]


def test_a_reused_expert_folder_must_be_the_one_this_run_would_make(tmp_path, monkeypatch):
  """--source_expert_dir: an expert whose folder's hash is not this run's is refused in one
  line naming the binding that differs, even where the identities agree."""
  from spam_tf import files
  from spam_tf.rl import snapshots
  from spam_tf.running import experiment as experiment_lib
  from spam_tf.running import units as units_lib
  monkeypatch.chdir(REPO)
  old_root = str(tmp_path / "old")

  def plan(bindings, source_expert_dir=None):
    experiment = experiment_lib.Experiment("e", "CartPole-v1", "CartPole-v1", source_expert_dir=source_expert_dir)
    try:
      return experiment_lib.plan(experiment, [0], ["scratch"], ["configs/smoke.gin"], bindings)
    finally:
      gin.clear_config()

  # An expert trained with the default learning rate bound explicitly, as its run writes it.
  expert = plan(["source/reinforce_agent.learning_rate = 0.007"]).experts[0]
  units_lib.write_config(old_root, expert)
  shapes = [[4, 64], [64], [64, 64], [64], [64, 2], [2]]
  snapshots.save(expert.run_dir(old_root), final=np.zeros(sum(int(np.prod(s)) for s in shapes), np.float32))
  files.write_json(os.path.join(expert.run_dir(old_root), "result.json"), {"weight_shapes": shapes, "discrete": True})
  assert plan(["source/reinforce_agent.learning_rate = 0.007"], old_root).experts[0].external_dir == \
      expert.run_dir(old_root)
  # Unbound here: the same identity (0.007 is the default), another folder.
  assert identity.differences(expert.identity, plan([]).experts[0].identity) == []
  with pytest.raises(experiment_lib.ExperimentError) as refused:
    plan([], old_root)
  assert "\n" not in str(refused.value) and str(refused.value).startswith(
      f"the source expert at {expert.run_dir(old_root)} was trained under other settings "
      "(source/reinforce_agent.learning_rate 0.007 -> unset)")


if __name__ == "__main__":
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    numbers = training.golden_run(tmp)
  training.write_golden(numbers, identity.TRAINING_CODE_VERSION, identity.versions())


# --- reruns and reuse after a change, through bin/spam_sweep ------------------------

ONE_UNIT = """
sweep.experiments = [{'name': 'one', 'source': 'CartPole-v1', 'target': 'CartPole-v1'}]
sweep.methods = ['scratch']
sweep.seeds = 1
sweep.gin_files = ['configs/smoke.gin']
"""


def code_copy(tmp_path, name, edits):
  """The repository's code (bin/, spam_tf/, configs/) copied to tmp_path/name with edits
  {relative path: (old text, new text)}: a checkout where someone changed something."""
  copy = tmp_path / name
  for part in ("bin", "spam_tf", "configs"):
    shutil.copytree(os.path.join(REPO, part), copy / part, ignore=shutil.ignore_patterns("__pycache__"))
  for path, (old, new) in edits.items():
    text = (copy / path).read_text()
    assert old in text, (path, old)
    (copy / path).write_text(text.replace(old, new))
  (copy / "one.gin").write_text(ONE_UNIT)
  return str(copy)


def spam_sweep(code, root, *flags):
  """bin/spam_sweep of the code in `code` on the one-unit sweep; (exit code, stderr, summary)."""
  from tests.conftest import user_env
  proc = subprocess.run([sys.executable, os.path.join(code, "bin", "spam_sweep"), "--sweep=one.gin",
                         f"--root_dir={root}", "--backend=inprocess", *flags],
                        capture_output=True, text=True, cwd=code, env=user_env(), timeout=600)
  path = os.path.join(root, "summary.json")
  return proc.returncode, proc.stderr, json.load(open(path)) if proc.returncode == 0 else None


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A root with the sweep's two units (a CartPole expert, and scratch on CartPole), trained
  by the code as it is."""
  tmp_path = tmp_path_factory.mktemp("identity")
  root = str(tmp_path / "root")
  code, err, summary = spam_sweep(code_copy(tmp_path, "as_is", {}), root)
  assert code == 0 and summary["provenance"]["units_finished_before"] == 0, err
  return root


NEW_DEFAULT = {"spam_tf/rl/agents.py": ("learning_rate=0.007, gamma=0.99", "learning_rate=0.006, gamma=0.99")}


def test_a_changed_default_is_not_reused(trained, tmp_path):
  changed = code_copy(tmp_path, "new_default", NEW_DEFAULT)
  # --reuse_units_from: one line naming what differs, no unit linked.
  code, err, _ = spam_sweep(changed, str(tmp_path / "reusing"), f"--reuse_units_from={trained}")
  assert code == 1 and len(err.splitlines()) == 1, err
  assert not glob.glob(str(tmp_path / "reusing" / "units" / "*"))
  assert err.startswith("error: --reuse_units_from: seed 0 expert CartPole-v1 in ")
  assert "source/reinforce_agent.learning_rate 0.007 -> 0.006" in err and "--accept_stale_units" in err
  # A rerun on the same root (a resume) trains them again, in folders of their own.
  resumed = str(tmp_path / "resumed")
  shutil.copytree(trained, resumed)
  code, err, summary = spam_sweep(changed, resumed)
  assert code == 0 and summary["provenance"]["units_finished_before"] == 0, err
  assert len(glob.glob(os.path.join(resumed, "units", "target", "CartPole-v1", "scratch", "*", "seed_0"))) == 2


def test_changed_training_code_is_not_reused(trained, tmp_path):
  bumped = code_copy(tmp_path, "new_code", {"spam_tf/running/identity.py": (
      f"TRAINING_CODE_VERSION = {identity.TRAINING_CODE_VERSION}\n",
      f"TRAINING_CODE_VERSION = {identity.TRAINING_CODE_VERSION + 1}\n")})
  code, err, _ = spam_sweep(bumped, str(tmp_path / "reusing"), f"--reuse_units_from={trained}")
  assert code == 1 and len(err.splitlines()) == 1, err
  assert (f"training code version {identity.TRAINING_CODE_VERSION} -> "
          f"{identity.TRAINING_CODE_VERSION + 1}") in err


def test_accepted_stale_units_are_linked_and_the_report_lists_them(trained, tmp_path):
  changed = code_copy(tmp_path, "new_default", NEW_DEFAULT)
  root = str(tmp_path / "accepting")
  code, err, summary = spam_sweep(changed, root, f"--reuse_units_from={trained}", "--accept_stale_units")
  assert code == 0 and summary["provenance"]["units_finished_before"] == 2, err  # linked, not trained
  expert, stale = summary["provenance"]["stale_units_accepted"]
  assert expert["unit"].startswith("units/expert/") and stale["unit"].startswith("units/target/")
  assert stale["from"] == trained and "target/reinforce_agent.learning_rate 0.007 -> 0.006" in stale["differences"]
  proc = subprocess.run([sys.executable, os.path.join(changed, "bin", "spam_report"), f"--root_dir={root}",
                         f"--out_dir={tmp_path / 'report'}", "--bootstrap_reps=100"],
                        capture_output=True, text=True, cwd=changed, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  report = (tmp_path / "report" / "REPORT.md").read_text()
  assert "2 units were linked from other roots although trained under other settings" in report
  # The root as the checkout that made the report sees it (reports name no machine paths).
  assert (f"`{stale['unit']}` from `{os.path.relpath(trained, changed)}`: "
          "target/reinforce_agent.learning_rate 0.007 -> 0.006") in report
  # Taken from here again, they are still stale: the root that accepted them says so.
  code, err, _ = spam_sweep(changed, str(tmp_path / "from_accepting"), f"--reuse_units_from={root}")
  assert code == 1 and "source/reinforce_agent.learning_rate 0.007 -> 0.006" in err, err


def test_a_change_to_the_report_code_reuses_every_unit(trained, tmp_path):
  edited = code_copy(tmp_path, "new_report", {"spam_tf/analysis/report.py": (
      "# SPAM: does an autoencoder-compressed expert give a better starting point?",
      "# SPAM: does a compressed expert give a better start?")})
  code, err, summary = spam_sweep(edited, str(tmp_path / "reusing"), f"--reuse_units_from={trained}")
  assert code == 0 and summary["provenance"]["units_finished_before"] == 2, err
  assert summary["provenance"]["stale_units_accepted"] == []


def test_units_of_a_root_made_before_identities_are_stale_and_matched_by_their_deps(tmp_path):
  """A root made before identities covered defaults has no identity.json: a unit there is
  taken only if its folder's hash (the old formula) says it was trained from the deps
  found there; the one with the same bindings but another expert is left alone."""
  from spam_tf import files
  from spam_tf.running import reuse, units

  def old_family(unit, dep_families):
    key = json.dumps([unit.kind, unit.env_id, unit.method, unit.source, unit.config, None, dep_families])
    return os.path.join(unit.label, hashlib.sha256(key.encode()).hexdigest()[:10])

  def make(old_root, family, config, result):
    files.write_text(os.path.join(old_root, "units", family, "config.gin"), config)
    for name, obj in result.items():
      files.write_json(os.path.join(old_root, "units", family, "seed_0", name), obj)

  expert = units.Unit("expert", "CartPole-v1", 0, "expert bindings\n", identity="{}")
  target = units.Unit("target", "InvertedPendulum-v4", 0, "target bindings\n", method="spam",
                      source="CartPole-v1", deps=(expert,), identity="{}")
  old = str(tmp_path / "old")
  expert_family = old_family(expert, [])
  make(old, expert_family, expert.config, {"result.json": {"eval_returns": [1]}})
  make(old, old_family(target, [expert_family]), target.config,
       {"result.json": {"eval_returns": [2]}, "sparsity.json": {}})
  make(old, old_family(target, ["expert/CartPole-v1/another1"]), target.config,  # from another expert
       {"result.json": {"eval_returns": [3]}, "sparsity.json": {}})
  with pytest.raises(reuse.StaleUnitError, match="predates identities"):
    reuse.link_all(str(tmp_path / "new"), [expert, target], [old])
  linked, accepted = reuse.link_all(str(tmp_path / "new"), [expert, target], [old], accept_stale=True)
  assert linked == {expert: old, target: old}
  assert json.load(open(os.path.join(target.run_dir(str(tmp_path / "new")), "result.json"))) == {"eval_returns": [2]}
  assert "trained from seed 0 expert CartPole-v1, which is stale there" in accepted[1]["differences"]
  assert json.load(open(os.path.join(target.run_dir(str(tmp_path / "new")), reuse.STALE_FILE)))["from"] == old
