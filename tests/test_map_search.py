"""The subspace score, MASTER's error and the scaled search (spam_tf/spam/map_criteria.py,
spam_tf/spam/map_search.py) on tiny models worked out by hand and on synthetic linear
systems whose map is known: a signed permutation, dropped inputs, distractor inputs, a
many-to-one read."""
import time

import numpy as np
import pytest

from spam_tf.spam import map_criteria as criteria
from spam_tf.spam import map_search
from spam_tf.spam import mapping


def _model(dynamics, effect=None):
  dynamics = np.asarray(dynamics, float)
  effect = np.zeros((len(dynamics), 0)) if effect is None else np.asarray(effect, float)
  return mapping.Model(dynamics, effect)


def _random_system(dims, rng):
  """Dense random couplings with damping, and an action pushing every input."""
  return rng.normal(scale=0.3 / np.sqrt(dims), size=(dims, dims)) - 0.1 * np.eye(dims), rng.normal(scale=0.3, size=dims)


def _mechanical_system(dims, rng, dt=0.05):
  """Positions integrating velocities, springs between neighbours, damping, the action on
  the velocities; an odd input out is a filtered velocity. Sparse and repetitive: where
  mapping.search's random restarts end wrong."""
  q = dims // 2
  springs = np.diag(rng.uniform(0.5, 2.0, size=q))
  for i in range(q):
    springs[i, (i + 1) % q] = springs[(i + 1) % q, i] = rng.uniform(-0.8, 0.8) if q > 1 else springs[i, i]
  dynamics = np.zeros((dims, dims))
  dynamics[:q, q:2 * q] = dt * np.eye(q)
  dynamics[q:2 * q, :q] = -dt * springs
  dynamics[q:2 * q, q:2 * q] = -dt * np.diag(rng.uniform(0.1, 1.0, size=q))
  if dims % 2:
    dynamics[-1, -1], dynamics[-1, q] = -dt * 0.5, dt * 0.7
  effect = np.zeros(dims)
  effect[q:2 * q] = dt * rng.normal(size=q)
  return dynamics, effect


def _pair(system, dims, seed, steps=None, noise=0.01, drop=0, distractors=0, action_sign=1):
  """(source TaskData, target TaskData, the true Map): the target sees the source's
  states through a random signed permutation with random scales, its first `drop`
  inputs dropped, then `distractors` inputs of its own (the first white noise, the rest
  slow AR(1) noise), its action (a 1-D Gaussian) times action_sign."""
  rng = np.random.default_rng(seed)
  dynamics, effect = system(dims, rng)

  def transitions(n):
    states, actions = rng.normal(size=(n, dims)), rng.choice([0, 1], size=n)
    push = 2.0 * actions - 1.0
    return states, states + states @ dynamics.T + np.outer(push, effect) + noise * rng.normal(size=states.shape), actions, push

  states, next_states, actions, _ = transitions(5000)
  source = criteria.task_data(states, next_states, mapping.action_features(actions, True, 2, "sign"))
  order = [int(j) for j in rng.permutation(dims)][drop:]
  signs = [int(s) for s in rng.choice([1, -1], size=len(order))]
  scales = np.asarray(signs) * rng.uniform(0.5, 3.0, size=len(order))
  states, next_states, _, push = transitions(steps or 60 * dims)
  seen, next_seen = states[:, order] * scales, next_states[:, order] * scales
  for k in range(distractors):
    persistence = 0.0 if k == 0 else 0.9
    noise_now = rng.normal(size=len(states))
    noise_next = persistence * noise_now + np.sqrt(1 - persistence ** 2) * rng.normal(size=len(states))
    seen, next_seen = np.column_stack([seen, noise_now]), np.column_stack([next_seen, noise_next])
  target = criteria.task_data(seen, next_seen, mapping.action_features((push * action_sign)[:, None], False, 1, "sign"))
  truth = mapping.complete(tuple(order) + (None,) * distractors, tuple(signs) + (1,) * distractors,
                            source.model, target.model, "sign")
  return source, target, truth


def test_subspace_score_by_hand():
  # Source: input 0 integrates input 1. Target: the same, twice as fast, and an input 2
  # of its own that decays (J = -2): its norm² is 4 + 4, half outside the map.
  source = _model([[0, 1], [0, 0]])
  target = _model([[0, 2, 0], [0, 0, 0], [0, 0, -2]])
  rate = lambda observation, signs: criteria.subspace_score(mapping.Map(observation, signs), source, target, None)
  exact = rate((0, 1, None), (1, 1, 1))
  assert (exact.cosine, exact.target_coverage, exact.source_coverage) == pytest.approx((1.0, 0.5, 1.0))
  assert exact.value == pytest.approx(1.0) and exact.outside == pytest.approx(0.5)
  # mapping.score is capped by the target's half outside: cosine x sqrt(0.5 x 1).
  assert mapping.score(mapping.Map((0, 1, None), (1, 1, 1)), source, target, None) == pytest.approx(np.sqrt(0.5))
  assert rate((0, 1, None), (1, -1, 1)).value == pytest.approx(-1.0)  # sigma_0 sigma_1 = -1
  assert rate((1, 0, None), (1, 1, 1)).cosine == pytest.approx(0.0)   # the swap: no shared entry
  # Reading source input 0 for the decaying input too (many-to-one): the source seen is
  # [[0, 1, 0], [0, 0, 0], [0, 1, 0]] (input 2 would integrate input 1, and J_s[0, 0] = 0
  # meets its -2): cosine 2 / (sqrt(8) sqrt(2)), both sides covered.
  shared = rate((0, 1, 0), (1, 1, 1))
  assert shared.cosine == pytest.approx(0.5) and shared.target_coverage == pytest.approx(1.0)
  assert shared.value == pytest.approx(0.5) and shared.value < exact.value


def test_score_is_the_subspace_cosine_times_both_coverages_for_one_to_one_maps():
  rng = np.random.default_rng(0)
  source, target = _model(rng.normal(size=(5, 5)), rng.normal(size=(5, 1))), _model(rng.normal(size=(4, 4)), rng.normal(size=(4, 1)))
  for _ in range(20):
    observation = tuple(int(j) if keep else None for j, keep in zip(rng.permutation(5)[:4], rng.random(4) < 0.7))
    candidate = mapping.Map(observation, tuple(int(s) for s in rng.choice([1, -1], size=4)), int(rng.choice([1, -1])))
    parts = criteria.subspace_score(candidate, source, target, "sign")
    assert mapping.score(candidate, source, target, "sign") == pytest.approx(
        parts.cosine * np.sqrt(parts.target_coverage * parts.source_coverage), abs=1e-12)


def test_a_perfect_map_of_4_inputs_into_11_scores_1_and_beats_any_part_of_it():
  # The target's inputs (6, 1, 9, 3) are the source's (2, 0, 3, 1), two of them flipped; its
  # other 7 inputs have dynamics of their own, coupled to those 4.
  rng = np.random.default_rng(0)
  source = _model(rng.normal(size=(4, 4)), rng.normal(size=(4, 1)))
  inputs, reads, signs = [6, 1, 9, 3], [2, 0, 3, 1], np.array([1, -1, 1, -1])
  dynamics, effect = rng.normal(size=(11, 11)), rng.normal(size=(11, 1))
  dynamics[np.ix_(inputs, inputs)] = source.dynamics[np.ix_(reads, reads)] * np.outer(signs, signs)
  effect[inputs] = -source.action_effect[reads] * signs[:, None]  # the target's action pushes the other way
  target = _model(dynamics, effect)
  observation, full_signs = [None] * 11, [1] * 11
  for i, j, s in zip(inputs, reads, signs):
    observation[i], full_signs[i] = j, int(s)
  truth = mapping.complete(tuple(observation), tuple(full_signs), source, target, "sign")
  parts = criteria.subspace_score(truth, source, target, "sign")
  assert (parts.value, parts.cosine, parts.source_coverage) == pytest.approx((1.0, 1.0, 1.0))
  assert parts.outside > 0.5 and mapping.score(truth, source, target, "sign") < 0.7  # the old cap
  for i in inputs:  # one input of the 4, mapped perfectly, scores the root of its share only
    alone = mapping.Map(tuple(j if k == i else None for k, j in enumerate(observation)), truth.signs,
                        truth.action_sign)
    single = criteria.subspace_score(alone, source, target, "sign")
    assert single.cosine == pytest.approx(1.0) and single.value < 0.7
  (value, found), = map_search.scaled_search(source, target, "sign", top_k=1)
  assert found == truth and value == pytest.approx(1.0)


def test_master_error_by_hand():
  # Target: input 0 changes by twice input 1 (Δs0 = 2 s1, s1 standardised), input 1 not at
  # all. Source model: input 0 integrates input 1 at rate 1, so MASTER's prediction is half
  # the change: error (2 - 1)² / 2² = 0.25 as it is, 0 with the gain (2).
  rng = np.random.default_rng(0)
  states = rng.normal(size=(500, 2))
  states = (states - states.mean(axis=0)) / states.std(axis=0)
  next_states = states + np.column_stack([2 * states[:, 1], np.zeros(500)])
  target = criteria.task_data(states, next_states, np.zeros((500, 0))).moments
  source = _model([[0, 1], [0, 0]])
  error = lambda observation, signs, gain=True: criteria.master_error(mapping.Map(observation, signs), source, target, None, gain)
  assert error((0, 1), (1, 1), gain=False).total == pytest.approx(0.25)
  exact = error((0, 1), (1, 1))
  assert (exact.total, exact.mapped, exact.gain) == pytest.approx((0.0, 0.0, 2.0), abs=1e-12)
  # Input 1 flipped: the prediction is -z1 against 2 z1: (2 + 1)² / 2² as it is; the gain
  # clips at 0, which is predicting no change: 1.
  assert error((0, 1), (1, -1), gain=False).total == pytest.approx(2.25)
  assert error((0, 1), (1, -1)).total == pytest.approx(1.0)
  assert error((None, 1), (1, 1)).total == pytest.approx(1.0)  # input 0 unmapped: no change predicted


def test_master_error_carries_the_action_sign():
  # Δs0 = -u in the target, Δs0 = +u in the source's model: right only with action sign -1.
  rng = np.random.default_rng(0)
  actions = rng.choice([0, 1], size=400)
  push = 2.0 * actions - 1.0
  states = rng.normal(size=(400, 1))
  target = criteria.task_data(states, states - push[:, None], push[:, None]).moments
  source = _model([[0.0]], [[1.0]])
  rate = lambda action_sign: criteria.master_error(mapping.Map((0,), (1,), action_sign), source, target, "sign").total
  assert rate(-1) == pytest.approx(0.0, abs=1e-12) and rate(1) == pytest.approx(1.0)


def test_both_criteria_on_the_same_data():
  source, target, truth = _pair(_random_system, 6, seed=2)
  right, master = criteria.compare(truth, source, target, "sign")
  assert right.cosine > 0.99 and right.value == right.cosine and master.total < 0.05
  observation = list(truth.observation)
  observation[0], observation[1] = observation[1], observation[0]
  wrong = criteria.compare(mapping.Map(tuple(observation), truth.signs, truth.action_sign), source, target, "sign")
  assert wrong[0].value < right.value - 0.1 and wrong[1].total > master.total + 0.1


def test_significance_is_the_t_statistic_of_a_regression():
  # One input: Δz = -0.1 z + noise; t = estimate / sqrt(residual variance / Σ z²).
  rng = np.random.default_rng(0)
  states = rng.normal(size=(300, 1))
  next_states = 0.9 * states + 0.3 * rng.normal(size=(300, 1))
  task = criteria.task_data(states, next_states, np.zeros((300, 0)))
  z = (states[:, 0] - states.mean()) / states.std()
  change = (next_states[:, 0] - states[:, 0]) / states.std()
  change = change - change.mean()
  estimate = z @ change / (z @ z)
  residual = np.mean((change - estimate * z) ** 2)
  assert criteria.significance(task)[0, 0] == pytest.approx(estimate / np.sqrt(residual / (z @ z)), rel=1e-4)


@pytest.mark.parametrize("system,dims", [(_random_system, 4), (_random_system, 6), (_random_system, 8),
                                         (_mechanical_system, 11), (_mechanical_system, 17)])
def test_the_scaled_search_recovers_a_signed_permutation(system, dims):
  source, target, truth = _pair(system, dims, seed=dims, steps=300, noise=0.05, action_sign=-1)
  started = time.perf_counter()
  (value, found), = map_search.scaled_search(source, target, "sign", top_k=1)
  took = time.perf_counter() - started
  (error, by_master), = map_search.scaled_search(source, target, "sign", criterion="master", top_k=1)
  print(f"{dims} inputs ({system.__name__}): scaled_search {took:.2f} s, subspace {value:.4f}, MASTER {error:.4f}")
  assert found == truth and by_master == truth


@pytest.mark.parametrize("dims", [3, 4, 5])
def test_the_scaled_search_equals_exhaustive_search_on_small_cases(dims, monkeypatch):
  source, target, truth = _pair(_random_system, dims, seed=10 + dims, steps=300, noise=0.05, action_sign=-1)
  monkeypatch.setattr(mapping, "EXHAUSTIVE_LIMIT", 10 ** 6)  # mapping.search: every map
  (_, exhaustive), = mapping.search(source.model, target.model, "sign", top_k=1)
  (value, found), = map_search.scaled_search(source, target, "sign", top_k=1)
  assert found == exhaustive == truth
  if dims <= 4:  # every many-to-one map too: (1 + 2 x 4)^4 = 6,561
    (best_value, best), = map_search.exhaustive_search(source, target, "sign", top_k=1)
    assert best == found and best_value == pytest.approx(value)


@pytest.mark.parametrize("system,dims,drop", [(_random_system, 4, 1), (_random_system, 8, 3),
                                              (_mechanical_system, 11, 4)])
def test_dropped_inputs(system, dims, drop):
  # The target sees dims - drop of the source's inputs: every one of them mapped right,
  # scored on its cosine (the target side fully covered).
  source, target, truth = _pair(system, dims, seed=20 + dims, steps=300, noise=0.05, drop=drop)
  (value, found), = map_search.scaled_search(source, target, "sign", top_k=1)
  assert found == truth and len(truth.observation) == dims - drop
  assert value == pytest.approx(criteria.subspace_score(truth, source.model, target.model, "sign").cosine)
  if dims == 4:
    assert map_search.exhaustive_search(source, target, "sign", top_k=1)[0][1] == found


@pytest.mark.parametrize("system,dims,distractors", [(_random_system, 3, 1), (_random_system, 6, 2),
                                                     (_mechanical_system, 8, 3)])
def test_distractor_inputs_come_back_unmapped(system, dims, distractors):
  source, target, truth = _pair(system, dims, seed=30 + dims, steps=300, noise=0.05, distractors=distractors)
  assert truth.observation[-distractors:] == (None,) * distractors
  (value, found), = map_search.scaled_search(source, target, "sign", top_k=1)
  assert found == truth
  if dims == 3:
    assert map_search.exhaustive_search(source, target, "sign", top_k=1)[0][1] == found
  (_, by_master), = map_search.scaled_search(source, target, "sign", criterion="master", top_k=1)
  print(f"{dims} + {distractors} distractors: subspace {value:.4f}; MASTER maps the distractors to "
        f"{by_master.observation[-distractors:]}, the rest {by_master.observation[:-distractors] == truth.observation[:-distractors]}")


def test_a_many_to_one_map_is_found():
  # The target's inputs 0 and 1 both read source input 0 (input 1 flipped), input 2 reads
  # source input 1; source input 2 is seen by nothing. One-to-one maps leave either a
  # target input or more of the source out, or mismatch.
  rng = np.random.default_rng(3)
  source = _model(rng.normal(size=(3, 3)), rng.normal(size=(3, 1)))
  reads, signs = [0, 0, 1], np.array([1, -1, 1])
  target = _model(source.dynamics[np.ix_(reads, reads)] * np.outer(signs, signs),
                  source.action_effect[reads] * signs[:, None])
  truth = mapping.complete(tuple(reads), tuple(int(s) for s in signs), source, target, "sign")
  (value, found), = map_search.scaled_search(source, target, "sign", top_k=1)
  assert found == truth and value == pytest.approx(1.0)
  assert map_search.exhaustive_search(source, target, "sign", top_k=1)[0][1] == truth
  (_, one_to_one), = map_search.scaled_search(source, target, "sign", top_k=1, many_to_one=False)
  assert len(set(j for j in one_to_one.observation if j is not None)) == sum(
      j is not None for j in one_to_one.observation)


def test_the_action_order_of_same_size_categoricals():
  # tests/test_mapping.py's case: the target lists the source's three actions in the order
  # (2, 0, 1), and input 0 integrates input 1 in both: one answer, scoring 1.
  effect = np.array([[-1, 0, 1], [1, 1, -2]])
  source, target = _model([[0, 1], [0, 0]], effect), _model([[0, 1], [0, 0]], effect[:, [2, 0, 1]])
  (value, found), = map_search.scaled_search(source, target, "order", top_k=1)
  assert found == mapping.Map((0, 1), (1, 1), action_order=(2, 0, 1)) and value == pytest.approx(1.0)


def test_count_all_by_hand():
  # 2 target inputs, 2 source inputs: each input none or one of 2 sources with 2 signs (5
  # ways), so 25; one-to-one: mapping.count_maps's 17.
  assert map_search.count_all(2, 2) == 25 and map_search.count_all(2, 2, many_to_one=False) == 17


def test_offsets_and_anchors_by_hand():
  # fit keeps mean / std per input (a constant input: 0, never an anchor).
  model = mapping.fit([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]], [[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]], np.zeros((3, 0)))
  np.testing.assert_allclose(model.offset, [2.0 / np.sqrt(2.0 / 3.0), 0.0])
  source = mapping.Model(np.zeros((2, 2)), np.zeros((2, 0)), np.array([3.0, 0.2]))
  target = mapping.Model(np.zeros((2, 2)), np.zeros((2, 0)), np.array([-2.0, 0.5]))
  assert mapping.anchors((0, 1), source, target) == {0: -1}  # |-2|, |3| >= 1: opposite signs
  assert mapping.anchors((1, 0), source, target) == {}       # 0.2 and 0.5: below ANCHOR_OFFSET
  assert mapping.anchors((0, None), source, mapping.Model(target.dynamics, target.action_effect)) == {}


def _anchored_pair(target_offset):
  """An oscillator (inputs 0, 1; the action pushes 1) and an input 2 that only decays, the
  same in both tasks: J and B cannot see input 2's sign; the offsets can (source +2)."""
  dynamics = np.array([[0.0, 0.1, 0.0], [-0.1, -0.05, 0.0], [0.0, 0.0, -0.1]])
  effect = np.array([[0.0], [0.1], [0.0]])
  offsets = lambda last: None if last is None else np.array([0.0, 0.0, last])
  return mapping.Model(dynamics, effect, offsets(2.0)), mapping.Model(dynamics, effect, offsets(target_offset))


@pytest.mark.parametrize("target_offset, sign", [(-2.0, -1), (2.0, 1)])
def test_an_anchored_input_takes_its_sign_from_the_offsets(target_offset, sign):
  source, target = _anchored_pair(None)
  assert (mapping.score(mapping.Map((0, 1, 2), (1, 1, 1), 1), source, target, "sign")
          == mapping.score(mapping.Map((0, 1, 2), (1, 1, -1), 1), source, target, "sign") == pytest.approx(1.0))
  source, target = _anchored_pair(target_offset)
  (value, anchored), = map_search.scaled_search(source, target, "sign", top_k=1)
  assert anchored == mapping.Map((0, 1, 2), (1, 1, sign), 1) and value == pytest.approx(1.0)
  ranked = map_search.exhaustive_search(source, target, "sign", top_k=50)
  assert ranked[0][1] == anchored and all(m.signs[2] == sign for _, m in ranked if m.observation[2] == 2)


def test_same_mode_tells_a_map_from_its_mirror_by_the_action_columns():
  # Symmetric J with equal diagonal: the swap and the mirror look alike to J; B does not.
  dynamics = np.array([[-0.1, 0.05], [0.05, -0.1]])
  effect = np.array([[0.1, 0.0], [0.0, 0.2]])
  source, target = mapping.Model(dynamics, effect), mapping.Model(dynamics, -effect)  # every sign flipped
  truth, mirror = mapping.Map((0, 1), (-1, -1)), mapping.Map((0, 1), (1, 1))
  assert mapping.action_mode(False, 2, False, 2) is None and mapping.action_mode(False, 2, False, 2, same_box=True) == "same"
  # By hand: <J_t, J_s> = 0.025, the B part ∓(0.01 + 0.04), both norms² 0.075.
  assert mapping.score(truth, source, target, "same") == pytest.approx(1.0)
  assert mapping.score(mirror, source, target, "same") == pytest.approx((0.025 - 0.05) / 0.075)
  assert map_search.scaled_search(source, target, "same", top_k=1)[0][1] == truth
  assert map_search.scaled_search(source, target, None, top_k=1)[0][1] == mirror  # blind to it: fewer flips
