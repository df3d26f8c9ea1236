"""The learner search: its scoring on hand-made results, and bin/spam_learners at smoke size."""
import json
import os
import subprocess
import sys

from spam_tf.running import learners
from tests.conftest import user_env


TASK = {"criterion": 10.0, "floor": 0.0}


def result(greedy, stochastic, steps):
  return {"iterations": len(greedy) - 1, "eval_returns": greedy,
          "stochastic_eval_returns": stochastic, "steps_per_iteration": steps}


def test_score_reach_hold_and_iterations_to_max():
  # Reaches 10 at iteration 2, then the last 2 iterations average 9.5 (>= 0.95 x 10).
  r = result([0, 5, 10, 9, 10], [0, 4, 9, 10, 8], [100, 110, 90, 100])
  s = learners.score(r, TASK, hold_window=2)
  assert s == {"reached": True, "held": True, "held_stochastic": False, "iterations_to_max": 2,
               "mean_steps_per_iteration": 100.0}
  never = learners.score(result([0, 5, 9, 9, 9], [0, 5, 9, 9, 9], [100] * 4), TASK, hold_window=2)
  assert never["reached"] is False and never["iterations_to_max"] == 5  # iterations + 1
  assert never["held"] is False  # 9 < 9.5


def test_holding_is_judged_on_the_normalised_scale():
  # Criterion 10, a random policy at -10: held = mean normalised return of the last 2
  # iterations >= 0.95, i.e. a mean return >= -10 + 0.95 x 20 = 9.0 (not 0.95 x 10 = 9.5).
  task = {"criterion": 10.0, "floor": -10.0}
  s = learners.score(result([-10, 0, 10, 9, 9.4], [-10, 0, 10, 9, 8.8], [100] * 4), task, hold_window=2)
  assert (s["held"], s["held_stochastic"]) == (True, False)  # 9.2 and 8.9
  acrobot = {"criterion": -100.0, "floor": -500.0}  # holding needs a mean >= -120
  s = learners.score(result([-500, -110, -112, -125], [-500, -300, -130, -140], [100] * 3), acrobot, hold_window=2)
  assert (s["reached"], s["held"], s["held_stochastic"], s["iterations_to_max"]) == (False, True, False, 4)


def test_summarize_counts_and_medians():
  scores = [{"reached": True, "held": True, "held_stochastic": True, "iterations_to_max": 3,
             "mean_steps_per_iteration": 110.0},
            {"reached": True, "held": False, "held_stochastic": True, "iterations_to_max": 6,
             "mean_steps_per_iteration": 90.0},
            {"reached": False, "held": False, "held_stochastic": False, "iterations_to_max": 11,
             "mean_steps_per_iteration": 100.0}]
  assert learners.summarize(scores, batch_steps=100) == {
      "seeds": 3, "reached": 2, "held": 1, "held_stochastic": 2, "median_iterations_to_max": 6.0,
      "steps_per_iteration_ratio": 1.0}


def test_every_candidate_binds_every_searched_parameter():
  for name, bindings in learners.CANDIDATES.items():
    if name != "defaults":
      assert {b.split("=")[0] for b in bindings} == set(learners._BEFORE_SEARCH), name


def test_spam_learners_smoke(repo_root, tmp_path):
  root = tmp_path / "learners"
  proc = subprocess.run(
      [sys.executable, os.path.join(repo_root, "bin", "spam_learners"), f"--root_dir={root}",
       "--envs=CartPole-v1", "--seeds=2", "--candidates=defaults,plain", "--gin_file=configs/smoke.gin"],
      capture_output=True, text=True, cwd=repo_root, env=user_env(), timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  recorded = json.loads((root / "learners.json").read_text())
  assert set(recorded) == {"defaults", "plain"}
  row = recorded["plain"]["envs"]["CartPole-v1"]
  assert row["seeds"] == 2 and len(row["per_seed"]) == 2
  lines = proc.stdout.splitlines()
  assert lines[0].split()[:2] == ["candidate", "env"] and len(lines) == 3
  assert lines[2].split()[:3] == ["plain", "CartPole-v1", f"{row['reached']}/2"]
  # Another root reusing these runs trains nothing and scores them alike (a sweep's scratch
  # runs under the same settings serve as the "defaults" candidate the same way).
  again = tmp_path / "again"
  proc = subprocess.run(
      [sys.executable, os.path.join(repo_root, "bin", "spam_learners"), f"--root_dir={again}",
       "--envs=CartPole-v1", "--seeds=2", "--candidates=plain", "--gin_file=configs/smoke.gin",
       f"--reuse_units_from={root}", "--backend=inprocess"],
      capture_output=True, text=True, cwd=repo_root, env=user_env(), timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert json.loads((again / "learners.json").read_text())["plain"]["envs"] == recorded["plain"]["envs"]
  results = sorted(again.glob("units/**/result.json"))
  assert len(results) == 2 and all(os.path.samefile(r, root / r.relative_to(again)) for r in results)
