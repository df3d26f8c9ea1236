"""bin/spam_maps (spam_tf/running/map_recovery.py and its report): a twin's map recovered,
rows resumed rather than recomputed, the expert acting on a twin as on its base, the
report's counts from hand-made rows, and the binary's one-line errors."""
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from spam_tf.rl import twins
from spam_tf.running import map_recovery as recovery
from spam_tf.running import map_recovery_report as report
from spam_tf.running import map_recovery_store as store
from tests.conftest import ROOT, user_env


@pytest.mark.parametrize("seed", [2, 3])  # seed 1 keeps CartPole's order, seed 0 flips no sign
def test_a_cartpole_twin_at_5000_random_steps_is_recovered_exactly_by_the_new_search(seed, tmp_path):
  case = recovery.Case("CartPole-v1", "plain", 5000, "random", seed)
  row = recovery.run_case(case, recovery.Settings(), str(tmp_path))
  assert row["twin"] == f"CartPole-twin{seed}-act-v0" and row["inputs"] == row["twin_inputs"] == 4
  picked = row["rules"]["subspace"]["recovery"]
  assert picked == {"true_inputs": 1.0, "distractors": None, "action": True, "exact": True,
                    "mirrored": picked["mirrored"]}
  assert row["rules"]["master"]["recovery"]["exact"] and row["rules"]["old"]["recovery"]["exact"]
  assert abs(row["target_steps"] - 5000) <= 250 and abs(row["source_steps"] - 5000) <= 250  # whole episodes


def test_rows_are_resumed_not_recomputed(tmp_path, monkeypatch):
  root = str(tmp_path / "root")
  cases = recovery.grid(["CartPole-v1"], ["plain"], [300], ["random"], [0, 1])
  rows, computed = recovery.run(root, cases)
  assert computed == 2 and [r["seed"] for r in rows] == [0, 1]
  with open(os.path.join(root, store.ROWS_FILE), "a") as f:
    f.write('{"base": "CartPole-v1", "varia')  # a line a kill cut short
  monkeypatch.setattr(recovery, "run_case", lambda *args: pytest.fail("a held case was computed again"))
  again, computed = recovery.run(root, cases)
  assert computed == 0 and again == rows
  monkeypatch.undo()
  more, computed = recovery.run(root, recovery.grid(["CartPole-v1"], ["plain"], [300], ["random"], [0, 1, 2]))
  assert computed == 1 and more[:2] == rows and len(store.read_rows(root)) == 3  # the cut line ended, not joined
  assert [(i["computed"], i["planned"]) for i in store.read_invocations(root)] == [(2, 2), (0, 0), (1, 1)]


def test_a_rerun_with_other_settings_is_refused(tmp_path):
  recovery.run(str(tmp_path), [])
  with pytest.raises(ValueError, match=r"^\S+ holds rows made with other settings \(noise_share 0.5 -> 0.3\)"):
    recovery.run(str(tmp_path), [], recovery.Settings(noise_share=0.3))


@pytest.mark.parametrize("spec", [twins.TwinSpec("CartPole-v1", 3, dropped=1, noise=1, permute_actions=True,
                                                 flip_actions=True),
                                  twins.TwinSpec("Acrobot-v1", 4, duplicated=1, permute_actions=True),
                                  twins.TwinSpec("Hopper-v4", 5, dropped=2, permute_actions=True, flip_actions=True)])
def test_the_expert_acts_on_a_twin_as_on_its_base_through_the_true_map(spec):
  """The twin's action, carried to the base by the twin itself, is what the base policy does
  on the base observation (a dropped input read as 0)."""
  twin = twins.Twin(gym.make(spec.base), spec)
  twin.reset(seed=0)
  base_space, relabelling = twin.env.observation_space, twin.relabelling
  discrete = isinstance(twin.env.action_space, gym.spaces.Discrete)
  rng = np.random.default_rng(0)
  actions = twin.env.action_space.n if discrete else twin.env.action_space.shape[0]
  weights = rng.normal(size=(base_space.shape[0], actions))
  act_base = (lambda obs, _: np.argmax(obs @ weights, axis=1)) if discrete else (lambda obs, _: obs @ weights)
  base_obs = rng.normal(size=(5, base_space.shape[0])).astype(np.float32)
  twin_obs = np.stack([twin._observe(x) for x in base_obs])  # pylint: disable=protected-access
  twin_obs[:, [i for i, j in enumerate(relabelling.sources) if j is None]] = 7.0  # noise: never read
  actions = recovery.relabelled(act_base, relabelling, base_space.shape[0], discrete)(twin_obs, None)
  seen = base_obs.copy()
  seen[:, sorted(set(range(base_space.shape[0])) - set(relabelling.sources))] = 0.0
  carried = [twin.base_action(a) for a in actions]
  np.testing.assert_allclose(np.asarray(carried, float), np.asarray(act_base(seen, None), float), rtol=1e-5, atol=1e-5)


def _row(base, inputs, budget, policy, seed, exact, variant="plain"):
  """A hand-made row: exact = (old, subspace, master)."""
  rules = {rule: {"value": 0.9, "seconds": 0.1, "recovery": {"exact": hit, "true_inputs": 1.0 if hit else 0.5,
                                                               "distractors": None}}
           for rule, hit in zip(recovery.RULES, exact)}
  return {"base": base, "inputs": inputs, "variant": variant, "budget": budget, "policy": policy,
          "seed": seed, "rules": rules}


def test_the_report_counts_hand_made_rows():
  rows = [_row("CartPole-v1", 4, 300, "random", 0, (True, True, False)),
          _row("CartPole-v1", 4, 300, "random", 1, (True, False, False)),
          _row("CartPole-v1", 4, 300, "random", 1, (False, True, True), variant="drop"),
          _row("CartPole-v1", 4, 2000, "expert", 0, (False, True, True)),
          _row("Hopper-v4", 11, 2000, "random", 0, (False, False, True))]
  summary = report.summary_table(rows).splitlines()
  assert summary[0] == "| data policy | task (inputs) | 300 steps | 2000 steps |"
  assert summary[2:] == ["| random | CartPole-v1 (4) | 2 · 2 · 1 of 3 | — |",
                         "| random | Hopper-v4 (11) | — | 0 · 0 · 1 of 1 |",
                         "| expert | CartPole-v1 (4) | — | 0 · 1 · 1 of 1 |"]  # no expert row for Hopper
  cases = report.case_table(rows).splitlines()
  assert cases[2:] == ["| CartPole-v1 (4) | plain | random | 2 · 1 · 0 of 2 | — |",
                       "| CartPole-v1 (4) | plain | expert | — | 0 · 1 · 1 of 1 |",
                       "| CartPole-v1 (4) | drop | random | 0 · 1 · 1 of 1 | — |",
                       "| Hopper-v4 (11) | plain | random | — | 0 · 0 · 1 of 1 |"]
  assert report.exact(rows, "subspace") == (3, 5) and report.share(rows[:2], "old") == 1.0
  assert report.terminal_table(rows).splitlines()[1:] == [
      "old: mapping.search            0.50      0.00", "new: subspace                  0.75      0.00",
      "new: MASTER                    0.50      1.00", "cases                             4         1"]


def _binary(*args):
  return subprocess.run([sys.executable, os.path.join(ROOT, "bin", "spam_maps"), *args], capture_output=True,
                        text=True, cwd=ROOT, env=user_env(), timeout=120)


def test_the_binary_lists_its_flags_with_the_tools_defaults_and_refuses_bad_input_in_one_line(tmp_path):
  help_text = _binary("--help").stdout
  for name, default in (("bases", recovery.BASES), ("variants", recovery.VARIANTS), ("budgets", recovery.BUDGETS),
                        ("policies", recovery.POLICIES)):
    assert f"(default:'{','.join(map(str, default))}')" in "".join(help_text.split()), name  # absl wraps at '-' 
  proc = _binary("--variants=plain,sideways", f"--root_dir={tmp_path}/maps")
  assert (proc.returncode, proc.stdout, proc.stderr) == (
      1, "", "error: unknown variant sideways: one of plain, drop, distract\n")
  assert not os.path.exists(tmp_path / "maps")  # bad input never touches a root_dir


def _truth(observation, signs, action_sign=1, action_order=None):
  return {"observation": observation, "signs": signs, "action_sign": action_sign, "action_order": action_order,
          "action_dims": None, "action_dim_signs": None}


def test_the_symmetric_image_keeps_the_anchored_inputs_by_hand():
  truth = _truth((1, 0, 2), (1, -1, 1))
  offsets = np.array([0.1, -0.3, 3.0])  # base input 2 sits away from 0 (a cosine)
  assert recovery.symmetric_image(truth, offsets, "sign") == _truth((1, 0, 2), (-1, 1, 1), action_sign=-1)
  ordered = _truth((1, 0, 2), (1, -1, 1), action_order=(0, 2, 1))
  assert recovery.symmetric_image(ordered, offsets, "order") == _truth((1, 0, 2), (-1, 1, 1), action_order=(2, 0, 1))
  assert recovery.symmetric_image(truth, offsets, "same") is None and recovery.symmetric_image(truth, offsets, None) is None


def test_the_judge_counts_constant_inputs_and_the_symmetric_image_by_hand():
  truth = _truth((1, 0, 2), (1, -1, 1))
  image = recovery.symmetric_image(truth, np.array([0.0, 0.0, 0.0]), "sign")
  pick = {"observation": (1, 0, None), "signs": (1, -1, 1), "action_sign": 1, "action_order": None}
  assert recovery.judge(pick, truth, image, [])["recovery"]["exact"] is False  # input 2 left out
  judged = recovery.judge(pick, truth, image, [2])  # input 2 constant in the twin's data: right whatever the pick
  assert (judged["recovery"]["exact"], judged["strict_exact"], judged["constant_inputs"]) == (True, True, 1)
  mirrored = {"observation": (1, 0, 2), "signs": (-1, 1, -1), "action_sign": -1, "action_order": None}
  judged = recovery.judge(mirrored, truth, image, [])
  assert (judged["recovery"]["exact"], judged["recovery"]["mirrored"], judged["strict_exact"]) == (True, True, False)
  assert recovery.judge(mirrored, truth, None, [])["recovery"]["exact"] is False  # no symmetry: wrong
