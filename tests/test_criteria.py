"""Success criteria from the task, the random-policy floor, normalisation for any reward
sign, and Taylor & Stone's transfer metrics: hand-computed expectations on tiny inputs,
and smoke sweeps with a negative-reward task (Acrobot-v1) as target and as source."""
import json
import types
import os

import gin
import numpy as np
import pytest

from spam_tf.analysis import primary
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st
from spam_tf.analysis import transfer_metrics
from spam_tf.rl import criteria
from spam_tf.running import experiment as experiment_lib
from spam_tf.running import sweep
from spam_tf.running import tasks
from tests import toy_task  # noqa: F401  (registers SpamChase-v0)
from tests.conftest import run_sweep_in_process

ACROBOT = scores_lib.Scale(criterion=-100.0, floor=-500.0)


def test_the_criterion_is_gins_else_gymnasiums_else_a_one_line_error():
  gin.clear_config()
  assert criteria.success_criterion("Acrobot-v1") == -100.0        # gymnasium's reward_threshold
  assert criteria.success_criterion("CartPole-v1") == 475.0
  gin.parse_config("success_criterion.returns = {'CartPole-v1': 500}")
  assert criteria.success_criterion("CartPole-v1") == 500.0        # gin's, for the tasks it names
  assert criteria.success_criterion("Acrobot-v1") == -100.0
  gin.clear_config()
  with pytest.raises(criteria.CriterionError, match=r"success_criterion.returns=\{'Pendulum-v1'"):
    criteria.success_criterion("Pendulum-v1")                      # no reward_threshold


def smoke_sweep(pairs):
  """A smoke-size sweep file's text: scratch and spam, 1 seed, on {name: (source, target)}."""
  experiments = "".join(f"    {{'name': '{name}', 'source': '{source}', 'target': '{target}'}},\n"
                        for name, (source, target) in pairs.items())
  return (f"sweep.experiments = [\n{experiments}]\nsweep.methods = ['scratch', 'spam']\nsweep.seeds = 1\n"
          "sweep.gin_files = ['configs/smoke.gin']\n")


NO_CRITERION = smoke_sweep({"to_chase": ("CartPole-v1", "tests.toy_task:SpamChase-v0"),
                            "from_pendulum": ("Pendulum-v1", "CartPole-v1")})


def test_a_task_without_a_criterion_trains_and_is_judged_by_the_fallback(repo_root, tmp_path, capfd):
  """Pendulum-v1 and the toy SpamChase have no reward_threshold: as a source a task needs
  none (its expert's iterations to a criterion are simply None); as a target its runs are
  judged by the fallback threshold (the median over the experiment's runs of their mean
  return over the last 10 iterations; where a smoke run's few iterations end no higher than
  a random policy, the best return a run reached), and the terminal says so in one line."""
  _, summary = run_sweep_in_process(repo_root, tmp_path, "run", NO_CRITERION)
  notes = [line for line in capfd.readouterr().err.splitlines() if "has no success criterion" in line]
  assert len(notes) == 1 and "SpamChase-v0 has no success criterion" in notes[0] and "fallback" in notes[0]
  to_chase, from_pendulum = summary["experiments"]["to_chase"], summary["experiments"]["from_pendulum"]
  runs = np.array([to_chase[f"target_{m}"]["eval_returns"][0] for m in ("scratch", "spam")])
  assert to_chase["tasks"]["target"]["criterion_from"] == "fallback"
  fallback = np.median(runs[:, -10:].mean(axis=1))
  expected = fallback if fallback > to_chase["tasks"]["target"]["floor"] else runs.max()
  assert to_chase["tasks"]["target"]["criterion"] == pytest.approx(expected)
  assert from_pendulum["tasks"]["source"]["criterion"] is None
  assert from_pendulum["source_expert"]["iterations_to_convergence"] is None
  assert from_pendulum["tasks"]["target"]["criterion"] == 475.0


def test_the_random_floor_is_a_random_policys_mean_return():
  # SpamChase pays 1 for the right one of 2 actions, 10 steps an episode: a uniformly random
  # policy earns 5 on average, with a standard error of sqrt(10 * 0.25 / 100) = 0.16 over 100 episodes.
  floor = criteria.random_floor("tests.toy_task:SpamChase-v0")
  assert 4.5 < floor < 5.5
  assert criteria.random_floor("tests.toy_task:SpamChase-v0") == floor  # seeded
  assert criteria.random_floor("tests.toy_task:SpamChase-v0", seed=1) != floor


def test_a_root_measures_a_floor_once_and_refuses_a_criterion_at_or_below_it(tmp_path, monkeypatch):
  first = tasks.describe(str(tmp_path), "tests.toy_task:SpamChase-v0", 10.0)
  monkeypatch.setattr(criteria, "random_floor", lambda env_id: pytest.fail("measured twice"))
  assert tasks.describe(str(tmp_path), "tests.toy_task:SpamChase-v0", 9.0) == {**first, "criterion": 9.0}
  with pytest.raises(tasks.TaskError, match="at or above the criterion 4"):
    tasks.describe(str(tmp_path), "tests.toy_task:SpamChase-v0", 4.0)


def test_a_change_to_the_code_that_collects_the_floor_measures_it_again(tmp_path, monkeypatch):
  from spam_tf.rl import collect
  root, env_id = str(tmp_path), "tests.toy_task:SpamChase-v0"
  first = tasks.describe(root, env_id, 10.0)
  seen = []

  def median_episode_stats(episodes):
    """collect.episode_stats as someone might rewrite it: the median return, not the mean."""
    seen.extend(ep.total_return for ep in episodes)
    return float(np.median([ep.total_return for ep in episodes])), 10.0, 10 * len(episodes)

  # The floor's mean comes from collect.episode_stats, two calls below random_floor.
  monkeypatch.setattr(collect, "episode_stats", median_episode_stats)
  tasks.floor_code.cache_clear()  # as a process of the changed code computes it
  try:
    again = tasks.describe(root, env_id, 10.0)
  finally:
    tasks.floor_code.cache_clear()
  assert again["floor_code"] != first["floor_code"]
  # Measured anew by the changed code, on the same seeded episodes the first floor averaged.
  assert len(seen) == criteria.FLOOR_EPISODES and first["floor"] == pytest.approx(np.mean(seen))
  assert again["floor"] == np.median(seen) != first["floor"]
  assert json.load(open(tmp_path / "tasks" / f"{env_id}.json"))["floor"] == again["floor"]


def test_the_floors_code_is_random_floor_and_what_it_calls():
  sources = tasks.floor_sources()
  # Read off spam_tf/rl/criteria.py and collect.py by hand: the calls random_floor makes and theirs.
  for name in ("spam_tf.rl.criteria.random_floor", "spam_tf.rl.collect.EpisodeCollector",
               "spam_tf.rl.collect.random_actions", "spam_tf.rl.collect.derive_seed",
               "spam_tf.rl.collect.episode_stats", "spam_tf.rl.collect.Episode", "spam_tf.rl.envs.make",
               "spam_tf.rl.envs.action_spec"):
    assert name in sources, name
  assert "def random_floor(" in sources["spam_tf.rl.criteria.random_floor"]
  assert not any("train" in name for name in sources)  # training code is not the floor's


def test_normalised_scores_have_the_right_sign_for_negative_rewards():
  # Acrobot-like: floor -500, criterion -100. A curve at -500 then -300 then -100:
  # normalised 0, 0.5, 1; its AUC (mean) 0.5. The old rule (return / maximum) gave 9.0 / 3.
  curve = [[-500.0, -300.0, -100.0]]
  np.testing.assert_allclose(ACROBOT.normalize(curve), [[0.0, 0.5, 1.0]])
  np.testing.assert_allclose(st.normalized_auc(curve, -100.0, -500.0), [0.5])
  np.testing.assert_allclose(st.normalized_auc([[0.0, 5.0, 10.0]], 10.0), [0.5])  # floor 0: as before


def acrobot_curves(seeds=10, offset=40.0):
  """Scratch climbs from -500 by 20 + seed a step over 20 iterations (seed 0 ends at -100);
  `better` is scratch plus offset + seed on every seed and iteration, capped at -60."""
  steps = np.arange(21)
  scratch = np.array([np.minimum(-500.0 + (20 + s) * steps, -60.0) for s in range(seeds)])
  better = np.minimum(scratch + offset + np.arange(seeds)[:, None], -60.0)
  return scratch, better


def test_a_start_better_on_every_seed_is_reported_faster_on_a_negative_reward_task():
  scratch, better = acrobot_curves()
  experiment = {"name": "acrobot", "target": "Acrobot-v1", "seeds": list(range(10)), "methods": ["scratch", "spam"],
                "tasks": {"target": {"criterion": -100.0, "floor": -500.0}}, "primary": [["spam", "scratch"]],
                **{f"target_{m}": {"eval_returns": c.tolist(), "stochastic_eval_returns": c.tolist(),
                                   "run_dirs": [f"{m}/{s}" for s in range(10)]}
                   for m, c in (("scratch", scratch), ("spam", better))}}
  judged = primary.judge_all({"acrobot": experiment})["acrobot"].comparisons[("spam", "scratch")]
  # Reaches -100 sooner on every seed: 10 negative differences in iterations, p = 2 / 2^10.
  assert judged["verdict"] == "better" and judged["mean"] < 0 and judged["p"] == 2 / 1024
  metrics = transfer_metrics.describe({"scratch": scratch, "spam": better}, ACROBOT, reps=200)
  assert metrics["spam"]["jumpstart"][0] > 0 and metrics["spam"]["total_reward"][0] > metrics["scratch"]["total_reward"][0]


def test_transfer_metrics_by_hand():
  # Two seeds, 4 iterations, criterion 10, floor 0 (normalised = return / 10).
  scale = scores_lib.Scale(10.0, 0.0)
  scratch = np.array([[0, 2, 4, 10, 10], [2, 2, 6, 6, 10]], np.float64)
  method = np.array([[4, 10, 10, 10, 10], [2, 4, 10, 8, 8]], np.float64)
  values = transfer_metrics.per_seed(method, scratch, scale, window=2)
  np.testing.assert_allclose(values["jumpstart"], [0.4, 0.0])
  np.testing.assert_allclose(values["asymptotic"], [1.0, 0.8])
  np.testing.assert_allclose(values["total_reward"], [0.88, 0.64])           # 44/50, 32/50
  np.testing.assert_allclose(values["transfer_ratio"], [0.88 / 0.52, 0.64 / 0.52])  # scratch: 26/50, 26/50


def test_metrics_that_would_measure_nothing_are_undefined():
  # Scratch never leaves the random policy's level (-500, floor -500): its total reward is 0,
  # so a ratio to it is undefined; and the return every run holds (-500) is where it starts,
  # so a fallback threshold there would be "reached" by every start at iteration 0.
  stuck = np.full((10, 21), -500.0)
  _, better = acrobot_curves()
  assert st.threshold(stuck, -100.0) == (None, True)
  values = transfer_metrics.per_seed(better, stuck, ACROBOT)
  assert np.isnan(values["transfer_ratio"]).all() and (values["total_reward"] > 0).all()
  # Scratch learning on half the seeds only: the ratio is defined on those (AUC >= 0.05).
  mixed = np.vstack([acrobot_curves(5)[0], np.full((5, 21), -500.0)])
  ratio = transfer_metrics.per_seed(better, mixed, ACROBOT)["transfer_ratio"]
  assert np.isfinite(ratio[:5]).all() and np.isnan(ratio[5:]).all()


SWEEP = smoke_sweep({"cp_to_acrobot": ("CartPole-v1", "Acrobot-v1"), "acrobot_to_cp": ("Acrobot-v1", "CartPole-v1")})


def test_smoke_runs_with_acrobot_record_its_criterion_and_sensible_normalised_scores(repo_root, tmp_path):
  _, summary = run_sweep_in_process(repo_root, tmp_path, "run", SWEEP)
  to_acrobot, from_acrobot = summary["experiments"]["cp_to_acrobot"], summary["experiments"]["acrobot_to_cp"]
  assert to_acrobot["tasks"]["target"]["criterion"] == -100.0 == from_acrobot["tasks"]["source"]["criterion"]
  assert from_acrobot["source_expert"]["criterion"] == -100.0
  # A random Acrobot episode almost always runs out its 500 steps at -1 each.
  assert -500 <= to_acrobot["tasks"]["target"]["floor"] < -480
  recorded = json.load(open(tmp_path / "run" / "tasks" / "Acrobot-v1.json"))
  assert recorded["floor"] == to_acrobot["tasks"]["target"]["floor"]
  for experiment in (to_acrobot, from_acrobot):
    scores, scale, _ = scores_lib.experiment_scores(experiment)
    for method, score in scores.items():
      assert np.all((score["auc"] > -0.2) & (score["auc"] < 1.2)), (experiment["name"], method, score["auc"])
    assert scale.criterion == experiment["tasks"]["target"]["criterion"]
  assert os.listdir(tmp_path / "run" / "logs" / "experiments") and len(
      os.listdir(tmp_path / "run" / "logs" / "experiments")) == 2


def test_a_changed_criterion_rejudges_a_finished_root_without_training(repo_root, tmp_path):
  criterion_gin = tmp_path / "criterion.gin"
  sweep_file = tmp_path / "chase.gin"
  sweep_file.write_text(f"""
sweep.experiments = [{{'name': 'chase', 'source': 'tests.toy_task:SpamChase-v0',
                      'target': 'tests.toy_task:SpamChase-v0', 'gin_files': ['{criterion_gin}']}}]
sweep.methods = ['scratch']
sweep.seeds = 1
sweep.gin_files = ['configs/smoke.gin']
""")
  cwd = os.getcwd()
  os.chdir(repo_root)
  try:
    summaries = []
    # First in a gin file (its section comes first in the config), then only as a binding.
    criterion_gin.write_text("success_criterion.returns = {'tests.toy_task:SpamChase-v0': 10.0}\n")
    summaries.append(sweep.run_sweep(str(sweep_file), str(tmp_path / "run"), backend="inprocess"))
    criterion_gin.write_text("")
    summaries.append(sweep.run_sweep(str(sweep_file), str(tmp_path / "run"), backend="inprocess",
                                     gin_bindings=["success_criterion.returns={'tests.toy_task:SpamChase-v0': 6.0}"]))
    criterion_gin.write_text("reinforce_agent.gamma = 0.5\n")
    with pytest.raises(experiment_lib.ExperimentError, match="holds a run with other flags or config"):
      sweep.run_sweep(str(sweep_file), str(tmp_path / "run"), backend="inprocess",  # a unit setting: refused
                      gin_bindings=["success_criterion.returns={'tests.toy_task:SpamChase-v0': 6.0}"])
  finally:
    os.chdir(cwd)
    gin.clear_config()  # the runs' bindings (gamma 0.5 above) must not reach later tests in this process
  first, second = (s["experiments"]["chase"] for s in summaries)
  assert (first["tasks"]["target"]["criterion"], second["tasks"]["target"]["criterion"]) == (10.0, 6.0)
  assert second["target_scratch"]["eval_returns"] == first["target_scratch"]["eval_returns"]
  assert summaries[1]["provenance"]["units_finished_before"] == summaries[1]["provenance"]["units"]


def test_a_criterion_named_for_a_task_no_experiment_runs_gets_a_note():
  # A typo for v1: CartPole-v1 is judged by gymnasium's 475, not the 500 meant.
  plans = [types.SimpleNamespace(criteria={"CartPole-v1": 475.0, "Acrobot-v1": -100.0},
                                 criteria_named=("CartPole-v0",),
                                 experiment=types.SimpleNamespace(target="Acrobot-v1"))]
  assert experiment_lib.criteria_notes(plans) == [
      "note: success_criterion.returns names CartPole-v0, which no experiment here runs; "
      "the criteria used: Acrobot-v1 -100, CartPole-v1 475"]
  plans[0].criteria_named = ("CartPole-v1",)
  assert experiment_lib.criteria_notes(plans) == []
