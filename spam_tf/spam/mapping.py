"""Inter-task maps found from experience: which source input each target observation
feeds (with a sign), and the action's sign or order, by comparing one-step linear
transition models of the two tasks (after MASTER: Taylor, Kuhlmann and Stone, 2008).

Each task's transitions (s, a, s') give a model of the change Δs = s' - s in
standardised coordinates (z = (s - mean) / std, per dimension):

    Δz ≈ J z + B u + c          J [d, d], B [d, m] (u: the action's features)

so a dimension's scale and the tasks' time steps do not matter. A map φ sends target
dimension i to source dimension φ(i) (or to none) with sign σ_i; were the target the
source seen through φ, its J would be the source's J with rows and columns picked by φ
and multiplied by σ_i σ_j. A map's score is the cosine between the two models under it:

    score = <[J_t B_t], [J_s B_s] seen through φ> / (|[J_t B_t]| |[J_s B_s]|)   in [-1, 1]

1 for an exact match of everything (tests/test_mapping.py builds such a pair). Finding
the best φ is a quadratic assignment: exhaustive for small tasks, otherwise local
search (move one dimension, swap two, flip a sign, unmap) from seeded random starts,
which keeps an 11-dimensional task to well under a second.

Actions enter the score where the two action spaces correspond ("action_mode"):
  'sign'   one scalar each (a 2-way categorical as action 1 vs 0, a 1-D Gaussian):
           the map carries an action sign (-1: the target pushes the other way);
  'order'  categoricals of the same size: the map carries an action order;
  'same'   Gaussians of the same size (more than 1) whose dimensions are known to
           correspond as they are (only when asked: `same_box`; a twin leaves such
           actions alone): B's columns compared in order, which fixes every input's sign;
  None     anything else: the score compares the state dynamics only.
A map and its mirror image (every sign flipped, the action's too) score the same
(a mirror-symmetric task); the one with fewer flips is kept, unless anchors decide.

Anchors. Centring throws away each input's offset, and with it the sign of an input
that sits away from 0 (cos θ of a pendulum hanging down is about +1; its changes are
second order, so J holds almost nothing of its sign). A Model keeps each input's offset,
mean / std; a mapped pair whose offsets both reach ANCHOR_OFFSET (the mean is at least a
spread away from 0) is anchored: its sign is sign(offset_t × offset_s), the one that
keeps the two tasks' operating points alike. A mirror image then flips every mapped
input but the anchored ones (a pendulum's mirror negates its angle's sine and its
velocity, not its cosine).
"""
import dataclasses
import itertools
import math

import numpy as np
from scipy import optimize

EXHAUSTIVE_LIMIT = 5000  # maps; above it, local search
ANCHOR_OFFSET = 1.0  # |mean / std| from which an input's sign is read off its offset (module doc)


@dataclasses.dataclass(frozen=True)
class Model:
  """A task's one-step linear model in standardised coordinates.

  dynamics: J [d, d]; action_effect: B [d, m] (m: the action features of
  `action_mode`; m = 0 when actions are not compared); offset: [d] each input's mean
  over its std in the data (None: not known, no anchors)."""
  dynamics: np.ndarray
  action_effect: np.ndarray
  offset: np.ndarray = None


@dataclasses.dataclass(frozen=True)
class Map:
  """observation: per target dimension, the source dimension it feeds (None: none);
  signs: per target dimension, +1 or -1 (+1 where unmapped);
  action_sign: +1 or -1 ('sign' mode), else +1;
  action_order: per target action, the source action ('order' mode), else None."""
  observation: tuple
  signs: tuple
  action_sign: int = 1
  action_order: tuple = None

  def as_json(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, record):
    """The Map as_json wrote, read back from JSON (lists become tuples)."""
    return cls(**{key: tuple(value) if isinstance(value, list) else value
                  for key, value in record.items()})


def action_mode(source_discrete, source_actions, target_discrete, target_actions, same_box=False):
  """'sign', 'order', 'same' (only if same_box) or None (module doc); *_actions:
  categories or Gaussian dims."""
  scalar = lambda discrete, n: (discrete and n == 2) or (not discrete and n == 1)
  if scalar(source_discrete, source_actions) and scalar(target_discrete, target_actions):
    return "sign"
  if source_discrete and target_discrete and source_actions == target_actions:
    return "order"
  if same_box and not source_discrete and not target_discrete and source_actions == target_actions:
    return "same"
  return None


def action_features(actions, discrete, num_actions, mode):
  """actions [N] int (categorical) or [N, a] float -> features u [N, m] for `mode`:
  'sign' one column (+1 / -1 for categorical action 1 / 0, a Gaussian's value),
  'order' one-hot [N, n], 'same' a Gaussian's values [N, a], None no columns."""
  actions = np.asarray(actions)
  if mode is None:
    return np.zeros((len(actions), 0))
  if mode == "order":
    return np.eye(num_actions)[actions.astype(int)]
  if discrete:
    return (2.0 * actions.astype(float) - 1.0)[:, None]
  return actions.reshape(len(actions), -1).astype(float)


def fit(observations, next_observations, features, ridge=1e-6):
  """Least-squares model of one task.

  observations, next_observations: [N, d]; features: [N, m] action features.
  Returns a Model of Δz on [z, u_standardised, 1] ('order' one-hot columns are
  centred over actions instead: only differences between actions are defined).
  """
  observations = np.asarray(observations, float)
  spread = observations.std(axis=0)
  std = np.where(spread > 1e-8, spread, 1.0)  # a constant dimension keeps its scale
  z = (observations - observations.mean(axis=0)) / std
  delta = (np.asarray(next_observations, float) - observations) / std
  features = np.asarray(features, float)
  one_hot = features.shape[1] > 1 and np.all((features == 0) | (features == 1))
  feature_std = np.ones(features.shape[1]) if one_hot else features.std(axis=0)
  feature_std = np.where(feature_std > 1e-8, feature_std, 1.0)
  inputs = np.hstack([z, features / feature_std, np.ones((len(z), 1))])
  gram = inputs.T @ inputs + ridge * len(z) * np.eye(inputs.shape[1])
  coefficients = np.linalg.solve(gram, inputs.T @ delta).T  # [d, d + m + 1]
  d = z.shape[1]
  effect = coefficients[:, d:-1]
  if one_hot:
    effect = effect - effect.mean(axis=1, keepdims=True)
  offset = np.where(spread > 1e-8, observations.mean(axis=0) / std, 0.0)  # a constant: no anchor
  return Model(coefficients[:, :d], effect, offset)


def anchors(observation, source, target):
  """{target input: the sign its offsets require} for the anchored mapped pairs (module
  doc); observation: per target input, the source input or None."""
  if source.offset is None or target.offset is None:
    return {}
  required = {}
  for i, j in enumerate(observation):
    if j is not None and min(abs(target.offset[i]), abs(source.offset[j])) >= ANCHOR_OFFSET:
      required[i] = 1 if target.offset[i] * source.offset[j] > 0 else -1
  return required


def score(candidate, source, target, mode):
  """The cosine between the target's model and the source's seen through `candidate`
  (a Map); in [-1, 1]."""
  mapped, rows, signs = mapped_parts(candidate)
  outer = np.outer(signs, signs)
  total = np.sum(target.dynamics[np.ix_(mapped, mapped)] * source.dynamics[np.ix_(rows, rows)] * outer)
  if mode == "sign":
    total += candidate.action_sign * np.sum(
        signs * target.action_effect[mapped, 0] * source.action_effect[rows, 0])
  elif mode == "order":
    order = list(candidate.action_order)
    total += np.sum(signs[:, None] * target.action_effect[mapped] * source.action_effect[rows][:, order])
  elif mode == "same":
    total += np.sum(signs[:, None] * target.action_effect[mapped] * source.action_effect[rows])
  return float(total / (norm(target, mode) * norm(source, mode)))


def mapped_parts(candidate):
  """A Map's (mapped target inputs, the source input each reads, their signs [k])."""
  mapped = [i for i, j in enumerate(candidate.observation) if j is not None]
  return mapped, [candidate.observation[i] for i in mapped], np.asarray(candidate.signs, float)[mapped]


def norm(model, mode):
  """|J, B| of a model: the Frobenius norm of what score compares (B only with an action mode)."""
  effect = model.action_effect if mode else np.zeros((len(model.dynamics), 0))
  return max(np.sqrt(np.sum(model.dynamics ** 2) + np.sum(effect ** 2)), 1e-12)


def _best_action(observation, signs, source, target, mode):
  """The action sign / order that scores best with this observation map."""
  mapped = [i for i, j in enumerate(observation) if j is not None]
  rows = [observation[i] for i in mapped]
  weighted = np.asarray(signs, float)[mapped][:, None] * target.action_effect[mapped]
  agreement = weighted.T @ source.action_effect[rows]  # [target actions, source actions]
  if mode == "sign":
    return (1 if agreement[0, 0] >= 0 else -1), None
  if mode == "order":
    target_index, source_index = optimize.linear_sum_assignment(agreement, maximize=True)
    return 1, tuple(int(j) for j in source_index[np.argsort(target_index)])
  return 1, None


def complete(observation, signs, source, target, mode):
  """A Map with the best action part and canonical signs: +1 where unmapped, and of a
  map and its mirror image the one with fewer flips (then action sign +1)."""
  signs = tuple(s if j is not None else 1 for j, s in zip(observation, signs))
  action_sign, order = _best_action(observation, signs, source, target, mode)
  if mode not in ("order", "same"):  # 'same': B's columns tell a map from its mirror
    required = anchors(observation, source, target)  # an anchored input keeps its sign in the mirror
    mirror = tuple(s if j is None or i in required else -s for i, (j, s) in enumerate(zip(observation, signs)))
    mirror_action = -action_sign if mode == "sign" else 1
    # More anchors agreeing, fewer flips, then the action's sign +1, then the first mapped
    # sign +1: a total order.
    flips = lambda signs_, action_: (sum(signs_[i] != s for i, s in required.items()),
                                     sum(s < 0 for s in signs_) + (action_ < 0), action_ < 0,
                                     [s < 0 for j, s in zip(observation, signs_) if j is not None])
    if flips(mirror, mirror_action) < flips(signs, action_sign):
      signs, action_sign = mirror, mirror_action
  return Map(tuple(observation), signs, action_sign, order)


def search(source, target, mode, top_k=3, restarts=16, seed=0):
  """The top_k maps by score, best first: [(score, Map)].

  Exhaustive when the target and source have at most EXHAUSTIVE_LIMIT maps, else
  local search from `restarts` seeded random maps; either way every map it scored
  competes for the top_k. Ties go to the map whose observation tuple sorts first.
  """
  target_dims, source_dims = len(target.dynamics), len(source.dynamics)
  scored = {}

  def evaluate(observation, signs):
    candidate = complete(observation, signs, source, target, mode)
    if candidate not in scored:
      scored[candidate] = score(candidate, source, target, mode)
    return scored[candidate]

  if count_maps(target_dims, source_dims) <= EXHAUSTIVE_LIMIT:
    for observation, signs in _all_maps(target_dims, source_dims):
      evaluate(observation, signs)
  else:
    rng = np.random.default_rng(seed)
    for _ in range(restarts):
      _descend(_random_map(rng, target_dims, source_dims), evaluate, source_dims)
  ranked = sorted(scored.items(), key=lambda item: (-round(item[1], 9), sort_key(item[0])))
  return [(value, candidate) for candidate, value in ranked[:top_k]]


def sort_key(candidate):
  return tuple(-1 if j is None else j for j in candidate.observation), candidate.signs


def count_maps(target_dims, source_dims):
  """How many signed partial one-to-one maps there are (exhaustive search's size)."""
  return sum(math.comb(target_dims, k) * math.perm(source_dims, k) * 2 ** k
             for k in range(min(target_dims, source_dims) + 1))


def _all_maps(target_dims, source_dims):
  for k in range(min(target_dims, source_dims) + 1):
    for chosen in itertools.combinations(range(target_dims), k):
      for sources in itertools.permutations(range(source_dims), k):
        for signs in itertools.product((1, -1), repeat=k):
          observation, full_signs = [None] * target_dims, [1] * target_dims
          for i, j, s in zip(chosen, sources, signs):
            observation[i], full_signs[i] = j, s
          yield tuple(observation), tuple(full_signs)


def _random_map(rng, target_dims, source_dims):
  sources = list(rng.permutation(source_dims)) + [None] * max(0, target_dims - source_dims)
  observation = tuple(None if j is None else int(j) for j in sources[:target_dims])
  return observation, tuple(int(s) for s in rng.choice((1, -1), size=target_dims))


def _neighbours(observation, signs, source_dims):
  """Every map one move away: target dimension i to source j (None: unmapped) with
  sign s; a dimension already feeding j takes i's old source (a swap)."""
  for i in range(len(observation)):
    for j in list(range(source_dims)) + [None]:
      for sign in (1, -1):
        new_observation, new_signs = list(observation), list(signs)
        if j is not None and j in observation and observation.index(j) != i:
          new_observation[observation.index(j)] = observation[i]
        new_observation[i], new_signs[i] = j, sign
        yield tuple(new_observation), tuple(new_signs)


def _descend(start, evaluate, source_dims):
  """Best-improvement local search from start = (observation, signs)."""
  current, current_score = start, evaluate(*start)
  while True:
    best = max(_neighbours(*current, source_dims), key=lambda move: evaluate(*move))
    best_score = evaluate(*best)
    if best_score <= current_score + 1e-12:
      return
    current, current_score = best, best_score
