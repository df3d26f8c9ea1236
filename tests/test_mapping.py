"""Automatic inter-task maps: the model comparison (spam_tf/spam/mapping.py) and the
probe's halving and decision (spam_tf/spam/auto_map.py), on tiny inputs with answers
worked out by hand or built into the data."""
import dataclasses
import json
import os

import numpy as np
import pytest

from spam_tf.rl import agents
from spam_tf.rl import curves
from spam_tf.rl import envs
from spam_tf.rl import policy as policy_lib
from spam_tf.rl import twins
from spam_tf.rl import weights as weights_lib
from spam_tf.spam import auto_map
from spam_tf.spam import map_criteria as criteria
from spam_tf.spam import mapping
from tests.conftest import run_sweep_in_process


def _model(dynamics, effect=None):
  dynamics = np.asarray(dynamics, float)
  effect = np.zeros((len(dynamics), 0)) if effect is None else np.asarray(effect, float)
  return mapping.Model(dynamics, effect)


def test_score_by_hand_on_a_two_dimensional_swap():
  # Source: dimension 0 integrates dimension 1; target: dimension 1 integrates 0.
  source, target = _model([[0, 1], [0, 0]]), _model([[0, 0], [1, 0]])
  score = lambda observation, signs: mapping.score(mapping.Map(observation, signs), source, target, None)
  assert score((1, 0), (1, 1)) == pytest.approx(1.0)    # the swap
  assert score((0, 1), (1, 1)) == pytest.approx(0.0)    # identity: no shared entry
  assert score((1, 0), (1, -1)) == pytest.approx(-1.0)  # one axis flipped: sigma_0 sigma_1 = -1
  assert score((None, 0), (1, 1)) == pytest.approx(0.0)  # dimension 1's only entry needs both


def test_score_counts_the_action_effect_with_its_sign():
  # J = 0; B: the action pushes dimension 0 by +2 in the source, dimension 0 by -1 in the
  # target. Cosine of [-1, 0] and [2, 0] under identity with action_sign -1: 2 / (1 * 2).
  source, target = _model(np.zeros((2, 2)), [[2], [0]]), _model(np.zeros((2, 2)), [[-1], [0]])
  flipped = mapping.Map((0, 1), (1, 1), action_sign=-1)
  assert mapping.score(flipped, source, target, "sign") == pytest.approx(1.0)
  assert mapping.score(mapping.Map((0, 1), (1, 1)), source, target, "sign") == pytest.approx(-1.0)


def test_count_maps_by_hand():
  # 2 x 2: no dimension mapped (1), one (2 targets x 2 sources x 2 signs = 8), both
  # (2 orders x 4 signs = 8).
  assert mapping.count_maps(2, 2) == 17
  assert mapping.count_maps(1, 3) == 1 + 3 * 2


def test_fit_recovers_the_standardised_model():
  # Raw dynamics Δs = A s + b u on data with per-dimension std D: in standardised
  # coordinates J = D^-1 A D and B = D^-1 b std(u).
  rng = np.random.default_rng(0)
  states = rng.normal(size=(400, 2)) * [3.0, 0.5]
  actions = rng.choice([0, 1], size=400)
  raw_a, raw_b = np.array([[0.0, 0.2], [-0.1, 0.05]]), np.array([0.3, -0.6])
  u = 2.0 * actions - 1.0
  next_states = states + states @ raw_a.T + np.outer(u, raw_b)
  model = mapping.fit(states, next_states, mapping.action_features(actions, True, 2, "sign"))
  d = states.std(axis=0)
  np.testing.assert_allclose(model.dynamics, raw_a * d[None, :] / d[:, None], atol=1e-4)
  np.testing.assert_allclose(model.action_effect[:, 0], raw_b * u.std() / d, atol=1e-4)


def _linear_pair(dims, permutation, signs, scales, action_sign, seed=0):
  """A random linear source system and the target that sees it through a known map:
  target dimension i = signs[i] * scales[i] * source dimension permutation[i], and the
  target's action pushes the other way where action_sign is -1."""
  rng = np.random.default_rng(seed)
  dynamics = rng.normal(scale=0.1, size=(dims, dims))
  effect = rng.normal(scale=0.3, size=dims)
  states = rng.normal(size=(60 * dims, dims))
  actions = rng.choice([0, 1], size=len(states))
  push = 2.0 * actions - 1.0
  next_states = states + states @ dynamics.T + np.outer(push, effect)
  to_target = lambda s: s[:, list(permutation)] * (np.asarray(signs) * np.asarray(scales))
  source = mapping.fit(states, next_states, mapping.action_features(actions, True, 2, "sign"))
  target_actions = (push * action_sign)[:, None]  # a 1-D Gaussian target action
  target = mapping.fit(to_target(states), to_target(next_states),
                       mapping.action_features(target_actions, False, 1, "sign"))
  return source, target


def test_exhaustive_search_recovers_a_permutation_with_sign_flips():
  permutation, signs = (2, 0, 3, 1), (1, -1, 1, 1)
  source, target = _linear_pair(4, permutation, signs, (2.0, 0.1, 7.0, 1.0), action_sign=-1)
  assert mapping.count_maps(4, 4) <= mapping.EXHAUSTIVE_LIMIT
  (best_score, best), _ = mapping.search(source, target, "sign", top_k=2)
  # Two flips (dimension 1 and the action) beat the mirror image's three.
  assert best == mapping.Map(permutation, signs, action_sign=-1)
  assert best_score == pytest.approx(1.0, abs=1e-9)


def test_local_search_recovers_an_eight_dimensional_map():
  permutation, signs = (5, 2, 7, 0, 1, 6, 3, 4), (1, 1, -1, 1, 1, 1, -1, 1)
  source, target = _linear_pair(8, permutation, signs, np.linspace(0.5, 4.0, 8), action_sign=1)
  assert mapping.count_maps(8, 8) > mapping.EXHAUSTIVE_LIMIT  # so this is the local search
  (best_score, best), = mapping.search(source, target, "sign", top_k=1, seed=3)
  assert best == mapping.Map(permutation, signs, action_sign=1)
  assert best_score == pytest.approx(1.0, abs=1e-9)


def test_action_order_of_same_size_categoricals():
  # Three actions push the state by the columns of B; the target lists the source's
  # actions in the order (2, 0, 1): its column k is the source's column (2, 0, 1)[k].
  # Dimension 0 integrates dimension 1 in both, so neither sign can flip alone, and no
  # reordering of the negated columns matches: the answer is unique.
  source_effect = np.array([[-1, 0, 1], [1, 1, -2]])
  source = _model([[0, 1], [0, 0]], source_effect)
  target = _model([[0, 1], [0, 0]], source_effect[:, [2, 0, 1]])
  (best_score, best), = mapping.search(source, target, "order", top_k=1)
  assert best == mapping.Map((0, 1), (1, 1), action_order=(2, 0, 1))
  assert best_score == pytest.approx(1.0)


def _candidate(name, returns):
  return auto_map.Candidate(name, [], returns={key: list(r) for key, r in returns.items()})


def test_halving_keeps_nothing_and_the_better_half():
  nothing = _candidate("nothing", {(0, 0): [1, 1]})
  a = _candidate("a", {(0, 0): [5, 5], (0, 1): [0, 0]})  # common chunk (0, 0) only: mean 5
  b = _candidate("b", {(0, 0): [2, 4]})                   # mean 3
  c = _candidate("c", {(0, 0): [9, 0]})                   # mean 4.5
  kept = auto_map._halve([nothing, a, b, c], 0)
  assert [x.name for x in kept] == ["nothing", "a", "c"]  # half of 3, rounded up: 2
  assert b.left_after_round == 0 and a.left_after_round is None


def test_decision_needs_the_margin_over_nothing():
  nothing = _candidate("nothing", {(0, 0): [10, 10, 10, 10]})
  # Advantages 2, 4, 6, 8: mean 5, sd sqrt(20/3), se sqrt(20/3)/2 = 1.291; 5 / 1.291 = 3.87.
  better = _candidate("map_1", {(0, 0): [12, 14, 16, 18]})
  chosen, decision = auto_map._decide(nothing, [better], margin=2.0, trust_score=0.8)
  assert chosen is better and decision["verdict"] == "better than nothing"
  assert decision["mean_advantage"] == pytest.approx(5.0)
  assert decision["standard_error"] == pytest.approx(np.sqrt(20 / 3) / 2)
  # 3.87 standard errors < 4: inconclusive, and map_1 has no model score here: nothing.
  assert auto_map._decide(nothing, [better], margin=4.0, trust_score=0.8)[0] is nothing
  worse = _candidate("unmapped", {(0, 0): [9, 9, 9, 9]})  # -1 on every episode: se 0
  chosen, decision = auto_map._decide(nothing, [worse], margin=2.0, trust_score=0.8)
  assert chosen is nothing and decision["verdict"] == "worse than nothing"


def test_an_inconclusive_probe_trusts_only_a_matching_model():
  # Every episode ties (Acrobot's cut episodes all return the same): the model decides.
  nothing = _candidate("nothing", {(0, 0): [-50, -50]})
  matching = _candidate("map_1", {(0, 0): [-50, -50]})
  matching.model_score = 0.9
  unmapped = _candidate("unmapped", {(0, 0): [-50, -50]})  # no model score: never trusted
  assert auto_map._decide(nothing, [unmapped, matching], 2.0, trust_score=0.8)[0] is matching
  assert auto_map._decide(nothing, [unmapped, matching], 2.0, trust_score=0.95)[0] is nothing


def test_the_models_rank_the_starts_the_probe_lets_through():
  # Both beat nothing on every paired episode; the better-rated map wins over the
  # start with the better first episodes (a start's first returns say little of how
  # fast it learns).
  nothing = _candidate("nothing", {(1, 0): [5, 5]})
  flashy = _candidate("unmapped", {(1, 0): [40, 40]})
  flashy.model_score = 0.2
  matching = _candidate("map_1", {(1, 0): [9, 8]})
  matching.model_score = 0.95
  chosen, decision = auto_map._decide(nothing, [flashy, matching], 2.0, trust_score=0.8)
  assert chosen is matching and decision["verdict"] == "better than nothing"


def test_a_delayed_curve_by_hand():
  # 1.5 iterations late: at iteration 2 the run has done 0.5 of its own (it holds its
  # start), at 3 it has done 1.5 (it holds its iteration 1's return).
  assert curves.delayed([0, 1, 2, 3], [0.0, 10.0, 30.0, 60.0], 1.5) == [0.0, 0.0, 0.0, 10.0]
  assert curves.delayed([0, 1, 2], [1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
  assert curves.delayed([0, 1, 2], [1.0, 2.0, 3.0], 1.0) == [1.0, 1.0, 2.0]
  # A maximum reached at one evaluation only is still reached, 0.2 iterations late: at 3.
  assert curves.delayed([0, 1, 2, 3, 4], [9.0, 400.0, 500.0, 480.0, 490.0], 0.2) == [9.0, 9.0, 400.0, 500.0, 480.0]
  # Evaluated every 5 iterations: at 10 the run has done 9.5 of its own; it holds 5's.
  assert curves.delayed([0, 5, 10], [1.0, 2.0, 3.0], 0.5) == [1.0, 1.0, 2.0]


AUTO_SWEEP = """
sweep.experiments = [
    {'name': 'cp_to_ip_auto', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/auto_map.gin']},
]
sweep.methods = ['scratch', 'spam']
sweep.seeds = 1
sweep.gin_files = ['configs/smoke.gin']
"""


def test_an_automatic_map_is_paid_for_in_target_steps(repo_root, tmp_path):
  root, summary = run_sweep_in_process(repo_root, tmp_path, "run", AUTO_SWEEP)
  experiment = summary["experiments"]["cp_to_ip_auto"]
  spam = experiment["target_spam"]
  run_dir = os.path.join(root, spam["run_dirs"][0])
  record = json.load(open(os.path.join(run_dir, "transfer.json")))["auto"]
  result = json.load(open(os.path.join(run_dir, "result.json")))
  names = [c["name"] for c in record["candidates"]]
  assert names[:2] == ["nothing", "unmapped"] and record["chosen"] in names
  # Every target step the choice took is in env_steps once: the charged ones before the
  # iterations, the reused ones (the fresh initialisation's, if it is chosen) in iteration 1.
  assert record["target_env_steps"] == record["model_steps"] + record["probe_steps"]
  reused = record["model_steps"] if record["chosen"] == "nothing" else 0
  assert record["reused_env_steps"] == reused
  assert result["start_env_steps"] == record["charged_env_steps"] == record["target_env_steps"] - reused
  assert result["env_steps"] == record["charged_env_steps"] + sum(result["steps_per_iteration"])
  # The report's curves are delayed by the charged steps over smoke's 400-step batches.
  delay = record["charged_env_steps"] / 400
  assert spam["start_cost_iterations_per_seed"] == [pytest.approx(delay)]
  assert spam["eval_returns"][0] == pytest.approx(
      [result["eval_returns"][max(int(np.floor(i - delay)), 0)] for i in range(4)])
  assert spam["auto_map_per_seed"][0]["chosen"] == record["chosen"]
  assert experiment["target_scratch"]["start_cost_iterations_per_seed"] == [0.0]


def test_a_map_with_signs_carries_the_start_by_hand():
  source = [np.array([[1.0], [2.0]]), np.array([0.0]), np.array([[3.0, 5.0]]), np.array([0.5, 1.5])]
  gaussian_init = [np.zeros((2, 1)), np.zeros(1), np.zeros((1, 1)), np.zeros(1), np.full(1, 0.7)]
  flipped = mapping.Map((1, 0), (1, -1), action_sign=-1)
  arrays, _ = auto_map.transfer_with(source, True, gaussian_init, False, flipped)
  np.testing.assert_array_equal(arrays[0], [[2.0], [-1.0]])  # rows swapped, then row 1 negated
  np.testing.assert_array_equal(arrays[2], [[-2.0]])  # -(logit 1 - logit 0) = -(5 - 3)
  np.testing.assert_array_equal(arrays[3], [-1.0])    # -(1.5 - 0.5)
  np.testing.assert_array_equal(arrays[4], np.float32([0.7]))  # the target's own std
  categorical_init = [np.zeros((2, 1)), np.zeros(1), np.zeros((1, 2)), np.zeros(2)]
  arrays, _ = auto_map.transfer_with(source, True, categorical_init, True,
                                     mapping.Map((0, 1), (1, 1), action_sign=-1))
  np.testing.assert_array_equal(arrays[0], [[1.0], [2.0]])
  np.testing.assert_array_equal(arrays[2], [[5.0, 3.0]])  # the two logits swap
  np.testing.assert_array_equal(arrays[3], [1.5, 0.5])


def test_a_map_read_back_from_json_is_the_same_map():
  # What a resumed unit rebuilds its start from (transfer.json "auto").
  chosen = mapping.Map((2, None, 0), (1, 1, -1), action_sign=-1, action_order=(1, 0))
  assert mapping.Map.from_json(json.loads(json.dumps(chosen.as_json()))) == chosen


def test_mirror_images_are_one_map_even_with_no_action_to_tell_them_apart():
  # J couples the two dimensions both ways; with no action effect (mode None) the map
  # (1, 0) with signs (-1, 1) and its mirror (1, -1) score the same: one is kept, the one
  # whose first mapped sign is +1.
  model = _model([[0, 1], [1, 0]])
  ranked = mapping.search(model, model, None, top_k=20)
  swapped = [m for _, m in ranked if m.observation == (1, 0)]
  assert mapping.Map((1, 0), (1, -1)) in swapped and mapping.Map((1, 0), (-1, 1)) not in swapped


def test_probe_episodes_pair_across_candidates():
  # Episode e of a chunk starts from the same state for every candidate, whatever order
  # the candidates' episodes end in (two different random policies on CartPole-v1).
  from spam_tf.rl import policy as policy_lib
  rng = np.random.default_rng(0)
  def candidate(name):
    arrays = [rng.normal(size=(4, 8)), np.zeros(8), rng.normal(size=(8, 8)), np.zeros(8),
              rng.normal(size=(8, 2)), np.zeros(2)]
    return auto_map.Candidate(name, [a.astype(np.float32) for a in arrays])
  with auto_map._Probe("CartPole-v1", 3, lambda arrays: policy_lib.NumpyPolicy(arrays, "relu", True),
                       episode_cap=50, chunk_episodes=4) as probe:
    first, second = (probe._chunk(candidate(n), 0, 0) for n in ("a", "b"))
  assert [ep.length for ep in first] != [ep.length for ep in second]  # the policies differ
  for a, b in zip(first, second):
    np.testing.assert_array_equal(a.observations[0], b.observations[0])
  assert probe.steps == sum(ep.length for ep in first + second)
  assert max(ep.length for ep in first + second) <= 50


def _random_cartpole_start(seed):
  rng = np.random.default_rng(seed)
  shapes = [(4, 64), (64,), (64, 64), (64,), (64, 2), (2,)]
  return [rng.normal(scale=0.1, size=shape).astype(np.float32) for shape in shapes]


@pytest.mark.parametrize("probe_floor", [1.01, -1.01])
def test_below_the_probe_floor_nothing_is_chosen_unprobed_and_its_episodes_reused(probe_floor):
  # A cosine is at most 1: floor 1.01 is never reached (no probe, nothing chosen, its model
  # episodes handed back whole, nothing charged); floor -1.01 always is (the probe runs and
  # its steps are charged, plus the model's unless nothing is chosen).
  from spam_tf.rl import collect
  from spam_tf.rl import policy as policy_lib
  policy_of = lambda arrays: policy_lib.NumpyPolicy(list(arrays), "tanh", True)
  fresh = _random_cartpole_start(1)
  collector = collect.EpisodeCollector("CartPole-v1", 1)
  def collect_fresh(min_steps):
    rng = np.random.default_rng(5)
    return collector.collect(lambda obs: policy_of(fresh).sample(obs, rng), min_steps, 6)
  try:
    arrays, record, reused = auto_map.auto_map(
        "CartPole-v1", "CartPole-v1", 0, _random_cartpole_start(2), True, fresh, True, policy_of,
        collect_fresh, source_steps=500, model_steps=200, probe_floor=probe_floor, probe_steps=100)
    model_episodes = collect_fresh(200)  # the same seeds: the same episodes
  finally:
    collector.close()
  model_steps = sum(ep.length for ep in model_episodes)
  assert model_steps >= 200 and record["model_steps"] == model_steps
  if probe_floor > 1:
    assert record["chosen"] == "nothing" and record["probe_steps"] == 0
    assert record["decision"]["verdict"] == "no map's dynamics match, not probed"
    assert all(c["probe_episodes"] == 0 for c in record["candidates"])
    assert [ep.length for ep in reused] == [ep.length for ep in model_episodes]
    assert all(np.array_equal(a.observations, b.observations) for a, b in zip(reused, model_episodes))
    assert all(np.array_equal(a, b) for a, b in zip(arrays, fresh))
    assert record["reused_env_steps"] == model_steps
    assert record["charged_env_steps"] == 0 and record["target_env_steps"] == model_steps
  else:
    probed = sum(c["probe_episodes"] for c in record["candidates"])
    assert record["probe_steps"] >= probed > 0  # every probe episode takes at least one step
    reused_steps = model_steps if record["chosen"] == "nothing" else 0
    assert record["reused_env_steps"] == sum(ep.length for ep in reused) == reused_steps
    assert record["charged_env_steps"] == model_steps + record["probe_steps"] - reused_steps


def test_a_resumed_unit_that_chose_nothing_replays_its_reused_episodes(tmp_path):
  # A unit restarted before its first checkpoint rebuilds iteration 1's head from the
  # record: collect_fresh again with the same minimum (seeded, so the same episodes), and
  # charges what the record charged; a recorded map reuses nothing.
  from spam_tf.running import worker
  asked = []
  def collect_fresh(min_steps):
    asked.append(min_steps)
    return ["episode"] * 3
  record = {"chosen": "nothing", "map": None, "model_min_steps": 250, "reused_env_steps": 260,
            "charged_env_steps": 640, "decision": {"verdict": "worse than nothing"}}
  (tmp_path / "transfer.json").write_text(json.dumps({"auto": record}))
  fresh = [np.ones((2, 2))]
  arrays, charged, reused = worker._auto_start(None, str(tmp_path), None, True, fresh, True, None,
                                               collect_fresh)
  assert arrays == fresh and charged == 640 and reused == ["episode"] * 3 and asked == [250]
  mapped = {**record, "chosen": "map_1", "reused_env_steps": 0, "charged_env_steps": 900,
            "map": mapping.Map((1, 0), (1, -1), action_sign=-1).as_json()}
  (tmp_path / "transfer.json").write_text(json.dumps({"auto": mapped}))
  source = [np.array([[1.0], [2.0]]), np.array([0.0]), np.array([[3.0, 5.0]]), np.array([0.5, 1.5])]
  categorical_init = [np.zeros((2, 1)), np.zeros(1), np.zeros((1, 2)), np.zeros(2)]
  arrays, charged, reused = worker._auto_start(None, str(tmp_path), source, True, categorical_init,
                                               True, None, collect_fresh)
  assert charged == 900 and reused == [] and asked == [250]
  np.testing.assert_array_equal(arrays[0], [[2.0], [-1.0]])  # rows swapped, row 1 negated
  np.testing.assert_array_equal(arrays[2], [[5.0, 3.0]])      # the action sign swaps the logits


def test_own_error_by_hand():
  # One input, E[z²] = 1, E[z Δz] = 0.5, E[Δz²] = 0.5: the fit Δz = 0.5 z leaves 0.5 - 0.25.
  moments = criteria.Moments(np.array([[1.0]]), np.array([[0.5]]), np.array([0.5]), 100)
  assert criteria.own_error(moments) == pytest.approx(0.5)


def test_the_master_rule_rates_a_noise_free_twins_true_map_1():
  rng = np.random.default_rng(0)
  dynamics = np.array([[0.0, 0.1, 0.0], [-0.2, -0.05, 0.1], [0.0, 0.3, -0.1]])
  effect = np.array([0.0, 0.2, 0.05])
  states, push = rng.normal(size=(500, 3)), rng.choice([-1.0, 1.0], size=500)
  following = states + states @ dynamics.T + np.outer(push, effect)
  order, signs = [2, 0, 1], np.array([1.0, -1.0, 1.0])  # target input i is source input order[i] times signs[i]
  source = criteria.task_data(states, following, push[:, None])
  target = criteria.task_data(states[:, order] * signs, following[:, order] * signs, push[:, None])
  truth = mapping.Map((2, 0, 1), (1, -1, 1), 1)
  assert auto_map.rate("master", truth, source, target, "sign") == pytest.approx(1.0, abs=1e-6)
  assert auto_map.rate("master", mapping.Map((2, 0, 1), (1, 1, 1), 1), source, target, "sign") < 0.9
  assert auto_map.rate("score", truth, source, target, "sign") == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("twin_id", ["spam_tf.rl.twins:CartPole-twin3-act-v0", "spam_tf.rl.twins:Acrobot-twin4-act-v0"])
def test_a_twin_target_through_its_true_map_acts_as_the_base_policy(twin_id):
  """transfer.observation_map = 'twin': the start on the twin picks, on every twin
  observation, the action the source policy picks on the base observation."""
  twin = envs.make(twin_id)
  base = envs.make(twins.twin_spec(twin_id).base)
  policies = []
  for env in (base, twin):
    spec = envs.action_spec(env)
    _, net = agents.make_agent(envs.observation_spec(env), spec)
    policies.append((policy_lib.from_network(net, spec), weights_lib.get(net)))
  (base_policy, source_arrays), (twin_policy, target_init) = policies
  rng = np.random.default_rng(1)
  source_arrays = [rng.normal(size=np.shape(a)).astype(np.float32) for a in source_arrays]
  arrays, _ = auto_map.transfer_with(source_arrays, True, target_init, True, auto_map.twin_map(twin_id))
  wrapper = twin
  while not isinstance(wrapper, twins.Twin):
    wrapper = wrapper.env
  base_obs = rng.normal(size=(20, base.observation_space.shape[0])).astype(np.float32)
  twin_obs = np.stack([wrapper._observe(x) for x in base_obs])  # pylint: disable=protected-access
  base_actions = dataclasses.replace(base_policy, weights=source_arrays).greedy(base_obs)
  twin_actions = dataclasses.replace(twin_policy, weights=list(arrays)).greedy(twin_obs)
  assert [int(wrapper.base_action(a)) for a in twin_actions] == [int(a) for a in base_actions]
