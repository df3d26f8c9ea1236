"""Units that cannot go stale: what a unit's identity covers, the golden run that guards
the training code's version, and reruns and reuse after a change, through bin/spam_sweep.

Rewrite the golden numbers (after a change to training that is meant, with
spam_tf.running.identity.TRAINING_CODE_VERSION bumped, or after new package pins):
    .venv/bin/python tests/test_identity.py
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

def test_the_automatic_maps_settings_reach_only_its_units():
  import gin  # pylint: disable=import-outside-toplevel
  try:
    gin.clear_config()
    plain = json.loads(identity.of_unit("target", "autoencoder"))["effective_config"]
    gin.parse_config("transfer.observation_map = 'auto'\nauto_map.probe_steps = 900")
    automatic = json.loads(identity.of_unit("target", "autoencoder"))["effective_config"]
  finally:
    gin.clear_config()
  # A unit without it has no auto_map section (so every unit trained before keeps its
  # folder); a unit with it carries every setting, defaults included.
  assert not any("auto_map" in name for name in plain)
  assert automatic["target/auto_map"]["probe_steps"] == 900 and automatic["target/auto_map"]["margin"] == 2.0
  assert automatic["target/transfer"]["observation_map"] == "auto"


if __name__ == "__main__":  # run as a script: the repository's own spam_tf
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from spam_tf.running import identity  # noqa: E402
from spam_tf.running import sweep  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(REPO, "tests", "golden", "training_code.json")
# Every kind of unit and every part of training at the smallest size: f1, g, a zoo and
# its genome autoencoder; f2 from scratch and from every start point (with the CartPole ->
# pendulum head transfer), with an observation map, and with PPO.
GOLDEN_SWEEP = """
sweep.experiments = [
    {'name': 'golden', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin']},
    {'name': 'golden_mapped', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin', 'configs/map_cartpole_to_pendulum.gin'], 'methods': ['spam']},
    {'name': 'golden_ppo', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin', 'configs/f2_ppo.gin'], 'methods': ['spam']},
]
sweep.methods = ['scratch', 'spam', 'copy', 'prune', 'relu', 'relu_prune', 'noise', 'zoo_mean', 'genome_mean']
sweep.seeds = 1
sweep.gin_bindings = ['train_eval.iterations = 2', 'train_eval.batch_steps = 150', 'train_eval.num_envs = 2',
                      'train_eval.eval_episodes = 1', 'train_eval.checkpoint_interval = 1',
                      'train_eval.weight_snapshots = (1,)', 'train_autoencoder.epochs = 5',
                      'zoo.size = 2', 'train_genome.epochs = 5', 'train_genome.patience = 2',
                      'ppo_agent.num_epochs = 2']
"""
NUMBERS = ("eval_returns", "stochastic_eval_returns", "train_returns", "losses", "loss_curve",
           "held_out_loss_curve", "reconstruction_mse", "env_steps")


def golden_run(root):
  """Trains GOLDEN_SWEEP in this process; {unit label/bindings/seed: its numbers}: the
  result's curves and, per weight file, each array's sum and norm."""
  path = os.path.join(root, "golden.gin")
  with open(path, "w") as f:
    f.write(GOLDEN_SWEEP)
  cwd = os.getcwd()
  os.chdir(REPO)  # the sweep names configs/ relative to the repository
  try:
    sweep.run_sweep(path, os.path.join(root, "run"), backend="inprocess")
  finally:
    os.chdir(cwd)
  numbers = {}
  for result_path in sorted(glob.glob(os.path.join(root, "run", "units", "**", "result.json"), recursive=True)):
    run_dir = os.path.dirname(result_path)
    family, seed = os.path.split(os.path.relpath(run_dir, os.path.join(root, "run", "units")))
    result = json.load(open(result_path))
    entry = {k: result[k] for k in NUMBERS if k in result}
    for npz in sorted(glob.glob(os.path.join(run_dir, "*.npz"))):
      with np.load(npz) as saved:
        entry.update({f"{os.path.basename(npz)}:{k}": [float(np.sum(saved[k])), float(np.linalg.norm(saved[k]))]
                      for k in saved.files})
    # Keyed by label, bindings and seed (not the folder's hash: it holds package versions).
    bindings = open(os.path.join(os.path.dirname(run_dir), "config.gin")).read()
    numbers[f"{os.path.dirname(family)}/{hashlib.sha256(bindings.encode()).hexdigest()[:8]}/{seed}"] = entry
  return numbers


def mismatches(now, golden, rtol=1e-4):
  """Where two golden_run() results differ beyond float noise: [unit: key]."""
  if sorted(now) != sorted(golden):
    return [f"units {sorted(set(now) ^ set(golden))}"]
  found = []
  for unit, entry in golden.items():
    for key, value in entry.items():
      if key not in now[unit] or not np.allclose(now[unit][key], value, rtol=rtol, atol=1e-6):
        found.append(f"{unit}: {key}")
  return found


def test_training_gives_the_golden_numbers_of_its_code_version(tmp_path):
  """Fails when training produces other numbers while TRAINING_CODE_VERSION stays (units
  trained before the change would be reused as if nothing had changed)."""
  golden = json.load(open(GOLDEN))
  assert golden["versions"] == identity.versions(), (
      "the pinned packages changed: rewrite the golden numbers (module doc); unit identities "
      "already change with the versions")
  assert golden["training_code_version"] == identity.TRAINING_CODE_VERSION, (
      "TRAINING_CODE_VERSION was bumped: rewrite the golden numbers for it (module doc)")
  different = mismatches(golden_run(str(tmp_path)), golden["units"])
  assert not different, (
      f"training now gives other numbers than training code version {identity.TRAINING_CODE_VERSION} "
      f"did ({different[:5]}): if that is meant, bump spam_tf.running.identity.TRAINING_CODE_VERSION "
      "and rewrite the golden numbers (module doc)")


def test_the_golden_comparison_sees_a_changed_number():
  golden = {"u/seed_0": {"losses": [0.5, 0.25], "policy_weights.npz:final": [1.0, 2.0]}}
  assert mismatches(json.loads(json.dumps(golden)), golden) == []
  changed = {"u/seed_0": {"losses": [0.5, 0.2501], "policy_weights.npz:final": [1.0, 2.0]}}
  assert mismatches(changed, golden) == ["u/seed_0: losses"]


def test_differences_name_what_changed():
  old = json.dumps({"effective_config": {"target/reinforce_agent": {"learning_rate": 0.007, "gamma": 0.99}},
                    "versions": {"tensorflow": "2.20.0"}, "training_code": 1})
  new = json.dumps({"effective_config": {"target/reinforce_agent": {"learning_rate": 0.006, "gamma": 0.99}},
                    "versions": {"tensorflow": "2.21.0"}, "training_code": 2})
  assert identity.differences(old, new) == ["training code version 1 -> 2", "tensorflow 2.20.0 -> 2.21.0",
                                            "target/reinforce_agent.learning_rate 0.007 -> 0.006"]
  assert identity.differences(new, new) == []
  assert "predates" in identity.differences(None, new)[0]


if __name__ == "__main__":
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    numbers = golden_run(tmp)
  os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
  with open(GOLDEN, "w") as f:
    json.dump({"training_code_version": identity.TRAINING_CODE_VERSION, "versions": identity.versions(),
               "units": numbers}, f, indent=1)
  print(f"wrote {GOLDEN}")


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
