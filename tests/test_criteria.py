"""Success criteria from the task, the random-policy floor, normalisation for any reward
sign, and Taylor & Stone's transfer metrics: hand-computed expectations on tiny inputs,
and smoke sweeps with a negative-reward task (Acrobot-v1) as target and as source."""
import json
import types
import os

import gin
import numpy as np
import pytest

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


def test_a_task_without_a_criterion_is_refused_before_anything_runs(tmp_path):
  experiment = experiment_lib.Experiment("p", "CartPole-v1", "Pendulum-v1")
  with pytest.raises(experiment_lib.ExperimentError, match="^p: Pendulum-v1 has no reward_threshold"):
    experiment_lib.plan(experiment, [0], ["scratch"], ["configs/smoke.gin"])
  assert not os.path.exists(tmp_path / "units")


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


def test_a_start_better_on_every_seed_is_reported_better_on_a_negative_reward_task():
  scratch, better = acrobot_curves()
  summary = {m: {"eval_returns": c.tolist(), "stochastic_eval_returns": c.tolist()}
             for m, c in (("scratch", scratch), ("spam", better))}
  scores = {m: scores_lib.method_scores(summary[m], ACROBOT) for m in summary}
  rows = scores_lib.comparisons(scores, reps=200)
  # Higher stochastic AUC on every seed: 10 positive differences, p = 2 / 2^10.
  assert rows["spam"]["stochastic_vs_scratch"]["verdict"] == "better"
  assert rows["spam"]["stochastic_vs_scratch"]["mean"] > 0
  assert rows["spam"]["vs"]["scratch"]["verdict"] == "better"  # reaches -100 sooner on every seed
  metrics = transfer_metrics.table({"scratch": scratch, "spam": better}, ACROBOT, reps=200)
  verdicts = {k: v["verdict"] for k, v in metrics["rows"]["spam"]["vs_scratch"].items()}
  assert verdicts == {"jumpstart": "better", "asymptotic": "better", "total_reward": "better",
                      "time_to_threshold": "better"}


def test_transfer_metrics_by_hand():
  # Two seeds, 4 iterations, criterion 10, floor 0 (normalised = return / 10).
  scale = scores_lib.Scale(10.0, 0.0)
  scratch = np.array([[0, 2, 4, 10, 10], [2, 2, 6, 6, 10]], np.float64)
  method = np.array([[4, 10, 10, 10, 10], [2, 4, 10, 8, 8]], np.float64)
  values = transfer_metrics.per_seed(method, scratch, scale, 10.0, window=2)
  np.testing.assert_allclose(values["jumpstart"], [0.4, 0.0])
  np.testing.assert_allclose(values["asymptotic"], [1.0, 0.8])
  np.testing.assert_allclose(values["total_reward"], [0.88, 0.64])           # 44/50, 32/50
  np.testing.assert_allclose(values["transfer_ratio"], [0.88 / 0.52, 0.64 / 0.52])  # scratch: 26/50, 26/50
  np.testing.assert_array_equal(values["time_to_threshold"], [1, 2])


def test_the_fallback_threshold_when_scratch_misses_the_criterion():
  reaches = np.array([[0, 10, 10], [0, 5, 5], [0, 10, 0]], np.float64)  # 2 of 3 reach 10
  assert transfer_metrics.threshold(reaches, 10.0, window=2) == (10.0, False)
  misses = np.array([[0, 2, 4], [0, 6, 8], [0, 10, 3]], np.float64)     # 1 of 3 reaches 10
  # Means of the last 2 iterations: 3, 7, 6.5; their median 6.5.
  assert transfer_metrics.threshold(misses, 10.0, window=2) == (6.5, True)


def test_metrics_that_would_measure_nothing_are_undefined():
  # Scratch never leaves the random policy's level (-500, floor -500): its total reward is 0,
  # so a ratio to it is undefined; and the return it holds (-500) is where it starts, so a
  # fallback threshold there would be "reached" by every start at iteration 0.
  stuck = np.full((10, 21), -500.0)
  _, better = acrobot_curves()
  assert transfer_metrics.threshold(stuck, -100.0) == (None, True)
  tested = transfer_metrics.versus_scratch({"scratch": stuck, "spam": better}, ACROBOT)
  assert np.isnan(tested["values"]["spam"]["transfer_ratio"]).all()
  assert np.isnan(tested["values"]["spam"]["time_to_threshold"]).all()
  assert set(tested["vs_scratch"]["spam"]) == {"jumpstart", "asymptotic", "total_reward"}
  assert tested["vs_scratch"]["spam"]["total_reward"]["verdict"] == "better"
  # Scratch learning on half the seeds only: the ratio is defined on those (AUC >= 0.05).
  mixed = np.vstack([acrobot_curves(5)[0], np.full((5, 21), -500.0)])
  ratio = transfer_metrics.per_seed(better, mixed, ACROBOT, -100.0)["transfer_ratio"]
  assert np.isfinite(ratio[:5]).all() and np.isnan(ratio[5:]).all()


SWEEP = """
sweep.experiments = [
    {'name': 'cp_to_acrobot', 'source': 'CartPole-v1', 'target': 'Acrobot-v1'},
    {'name': 'acrobot_to_cp', 'source': 'Acrobot-v1', 'target': 'CartPole-v1'},
]
sweep.methods = ['scratch', 'spam']
sweep.seeds = 1
sweep.gin_files = ['configs/smoke.gin']
"""


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
                                 criteria_named=("CartPole-v0",))]
  assert experiment_lib.criteria_note(plans) == (
      "note: success_criterion.returns names CartPole-v0, which no experiment here runs; "
      "the criteria used: Acrobot-v1 -100, CartPole-v1 475")
  plans[0].criteria_named = ("CartPole-v1",)
  assert experiment_lib.criteria_note(plans) is None
