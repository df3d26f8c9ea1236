"""A search for inter-task maps that scales (beside mapping.search; not used by auto_map.py
yet), by either criterion of spam_tf/spam/map_criteria.py: the subspace score or MASTER's
error. Maps are mapping.Map; partial maps (None) and many-to-one maps (two target inputs
reading one source input) are both searched, and a map and its mirror image are one map
(mapping.complete keeps the one with fewer flips).

The search (`scaled_search`), in three steps:
  1. starts from graph matching: per-input signatures (J's diagonal, each row's and
     column's other entries' magnitudes sorted, B's row norm: blind to order and sign)
     matched by a linear assignment (scipy.optimize.linear_sum_assignment), and FAQ
     quadratic assignment (scipy.optimize.quadratic_assignment) of |J| with B's row norms
     on an action node, from that assignment, from the barycenter and from seeded random
     starts, with J's diagonal and without it; the smaller task is padded with inputs that
     mean "unmapped". Where the data are known (criteria.TaskData) |J| is shrunk by its
     significance (`_weights`): with 300 steps a white-noise input's row is noise larger
     than the structure (on synthetic tasks with distractors the starts were mostly
     distractor maps without it);
  2. every observation map gets the signs that make the models agree most (`_signs`: the
     leading eigenvector of the agreement matrix, then single flips: for the subspace
     score this maximises its numerator, the only part signs change), and mapping.complete
     its action and canonical mirror image;
  3. best-improvement local search from the best-rated starts (`descents`): each input to
     every source input or none, a holder of that source taking the moved input's old one
     (a swap), and with it the input most strongly linked to it to the source input most
     strongly linked to that source (a position and its velocity move together: without
     this, dropped inputs of mechanical systems ended in local optima); then many-to-one
     reads.
On the synthetic mechanical systems of tests/test_map_search.py (positions integrating
velocities, sparse springs; 300 noisy target steps) of 11 and 17 inputs it returns the
true map in 0.3 and 0.8 s; mapping.search returned 0 of 11 and 4 of 17 inputs right (with
their signs) in 1.6 and 5.9 s.
"""
import itertools

import numpy as np
from scipy import optimize
from scipy.spatial import distance

from spam_tf.spam import map_criteria as criteria
from spam_tf.spam import mapping


def _weights(task):
  """|J| [d, d] for the starts: shrunk by significance where the data are known
  (|J| max(0, 1 - 4 / t²): an entry within 2 standard errors of 0 counts as 0)."""
  weights = np.abs(criteria.model_of(task).dynamics)
  if isinstance(task, criteria.TaskData):
    weights = weights * np.maximum(0.0, 1.0 - 4.0 / np.maximum(criteria.significance(task) ** 2, 1e-12))
  return weights


class _Scorer:
  """observation -> value, remembered: the signs from _signs, the Map completed by
  mapping.complete (action, canonical signs) and rated by the criterion (higher is better)."""

  def __init__(self, criterion, source, target, mode):
    self.source, self.target, self.mode = criteria.model_of(source), criteria.model_of(target), mode
    if criterion == "subspace":
      self.rate = self._subspace
    elif criterion == "master":
      if not isinstance(target, criteria.TaskData):
        raise ValueError("criterion 'master' needs the target's TaskData (its moments)")
      self.moments, self.rate = target.moments, self._master
    else:
      raise ValueError(f"unknown criterion {criterion!r}: 'subspace' or 'master'")
    self.seen, self.maps = {}, {}

  def _subspace(self, candidate):
    result = criteria.subspace_score(candidate, self.source, self.target, self.mode)
    return result.value, min(result.target_coverage, result.source_coverage)

  def _master(self, candidate):
    return -criteria.master_error(candidate, self.source, self.moments, self.mode).total, 0.0

  def __call__(self, observation, signs=None):
    if signs is None:
      signs = _signs(observation, self.source, self.target, self.mode)
    elif any(signs[i] != s for i, s in mapping.anchors(observation, self.source, self.target).items()):
      return -np.inf  # against an anchor (mapping's module doc): never a candidate
    key = (tuple(observation), tuple(signs))
    if key not in self.seen:
      candidate = mapping.complete(key[0], key[1], self.source, self.target, self.mode)
      if candidate not in self.maps:
        self.maps[candidate] = self.rate(candidate)
      self.seen[key] = self.maps[candidate]
    return self.seen[key][0]

  def ranked(self, top_k):
    """[(value, Map)] best first: value, then the tie-break, then mapping's map order."""
    order = sorted(self.maps.items(), key=lambda item: (-round(item[1][0], 9), -round(item[1][1], 9),
                                                       mapping.sort_key(item[0])))
    return [(value, candidate) for candidate, (value, _) in order[:top_k]]


def _place(observation, i, j):
  """Input i to source j (None: unmapped); an input that read j takes i's old source."""
  moved = [observation[i] if j is not None and x == j and k != i else x for k, x in enumerate(observation)]
  moved[i] = j
  return tuple(moved)


def _partners(task):
  """[d]: each input's most strongly linked other input (by _weights, either direction)."""
  weights = _weights(task)
  linked = weights + weights.T
  np.fill_diagonal(linked, -1.0)
  return np.argmax(linked, axis=1)


def _moves(observation, source_dims, partners, many_to_one):
  """Every map one move away: each input i to every source j or none (a swap where
  another input reads j), and i's partner (partners[0], the target's) with it to j's
  (partners[1], the source's): a linked pair, such as a position and its velocity, moves
  together. many_to_one: instead, i reading j beside the inputs that do."""
  for i in range(len(observation)):
    for j in [*range(source_dims), None]:
      if not many_to_one:
        yield _place(observation, i, j)
        if j is not None:
          yield _place(_place(observation, i, j), int(partners[0][i]), int(partners[1][j]))
      elif j is not None and j in observation and observation[i] != j:
        yield observation[:i] + (j,) + observation[i + 1:]


def _descend(start, rate, source_dims, partners, many_to_one):
  """Best-improvement local search over _moves; every map's signs are _signs' (the best
  for its observation)."""
  current, best = start, rate(start)
  while True:
    move = max(_moves(current, source_dims, partners, many_to_one), key=rate, default=current)
    if rate(move) <= best + 1e-12:
      return current
    current, best = move, rate(move)


def _signatures(task, length):
  """[d, 2 length + 2]: per input the weight of J's diagonal (signed), its row's and
  column's other weights sorted (zero-padded to length), B's row norm; scaled to norm 1."""
  weights, effect = _weights(task), np.linalg.norm(criteria.model_of(task).action_effect, axis=1)
  d, scale = len(weights), max(np.sqrt(np.sum(weights ** 2) + np.sum(effect ** 2)), 1e-12)
  weights, effect = weights / scale, effect / scale
  off = ~np.eye(d, dtype=bool)
  rows = -np.sort(-weights[off].reshape(d, d - 1), axis=1)
  columns = -np.sort(-weights.T[off].reshape(d, d - 1), axis=1)
  pad = lambda x: np.pad(x, ((0, 0), (0, length - x.shape[1])))
  diagonal = np.diag(weights) * np.sign(np.diag(criteria.model_of(task).dynamics))
  return np.hstack([diagonal[:, None], pad(rows), pad(columns), effect[:, None]])


def _signature_start(source, target, target_dims, source_dims):
  """Observation tuple: the linear assignment of inputs by signature distance."""
  length = max(source_dims, target_dims) - 1
  cost = distance.cdist(_signatures(target, length), _signatures(source, length))
  observation = [None] * target_dims
  for i, j in zip(*optimize.linear_sum_assignment(cost)):
    observation[i] = int(j)
  return tuple(observation)


def _graph(task, size, diagonal):
  """_weights padded to size (the diagonal zeroed unless `diagonal`: an input that only
  decays has nothing else), B's row norms on an action node (index size)."""
  weights = _weights(task)
  graph, d = np.zeros((size + 1, size + 1)), len(weights)
  graph[:d, :d] = weights * (1.0 if diagonal else 1.0 - np.eye(d))
  graph[:d, size] = np.linalg.norm(criteria.model_of(task).action_effect, axis=1)
  return graph


def _as_permutation(observation, size):
  """A partial map as a size x size permutation matrix (padding inputs take the rest)."""
  targets = [i for i, j in enumerate(observation) if j is not None]
  sources = [observation[i] for i in targets]
  targets += [i for i in range(size) if i not in targets]
  sources += [j for j in range(size) if j not in sources]
  matrix = np.zeros((size, size))
  matrix[targets, sources] = 1.0
  return matrix


def _starts(source, target, restarts, seed):
  """Distinct observation tuples: the signatures' assignment and FAQ graph matchings
  (module doc), on the weights with and without their diagonal. source, target: Model or
  TaskData."""
  target_dims, source_dims = len(criteria.model_of(target).dynamics), len(criteria.model_of(source).dynamics)
  size = max(target_dims, source_dims)
  first = _signature_start(source, target, target_dims, source_dims)
  rng = np.random.default_rng(seed)
  starts = [first]
  positions = [_as_permutation(first, size), "barycenter"]
  for diagonal, position in ([(True, p) for p in positions + ["randomized"] * restarts]
                             + [(False, p) for p in positions]):
    options = {"maximize": True, "P0": position, "rng": rng, "partial_match": [[size, size]]}
    matched = optimize.quadratic_assignment(_graph(target, size, diagonal), _graph(source, size, diagonal),
                                            options=options)
    starts.append(tuple(int(j) if j < source_dims else None for j in matched.col_ind[:target_dims]))
  return list(dict.fromkeys(starts))


def _flipped(agree, spins, fixed=None):
  """Single flips while one raises spinsᵀ agree spins; `fixed` [k] bool: never flipped."""
  spins = spins.copy()
  while True:
    gains = -spins * (agree @ spins)  # a flip's change, over 4
    if fixed is not None:
      gains[fixed] = -np.inf
    if gains.max() <= 1e-12:
      return spins
    spins[np.argmax(gains)] *= -1


def _signs(observation, source, target, mode):
  """Per target input ±1 (+1 where unmapped) making the models agree most: the signs of
  the leading eigenvector of the agreement matrix (J's entries, and B's with the action
  as one more input in 'sign' and 'same' mode), then flipped one at a time while that
  helps; inputs anchored by their offsets (mapping's module doc) take the anchors' signs
  and the others are flipped again around them. For
  the subspace score this maximises (locally) its numerator, the only part signs change;
  for MASTER's error it is a heuristic (the search's MASTER maps came out right where the
  subspace's did)."""
  mapped = [i for i, j in enumerate(observation) if j is not None]
  rows = [observation[i] for i in mapped]
  signs, k = [1] * len(observation), len(mapped)
  if not mapped:
    return tuple(signs)
  agree = np.zeros((k + 1, k + 1) if mode in ("sign", "same") else (k, k))
  agree[:k, :k] = target.dynamics[np.ix_(mapped, mapped)] * source.dynamics[np.ix_(rows, rows)]
  if mode in ("sign", "same"):  # 'same': every action dimension +1, one node
    agree[:k, k] = np.sum(target.action_effect[mapped] * source.action_effect[rows], axis=1)
  agree += agree.T
  np.fill_diagonal(agree, 0.0)
  spins = _flipped(agree, np.where(np.linalg.eigh(agree)[1][:, -1] >= 0, 1.0, -1.0))
  spins = spins * spins[-1]  # relative to the action's (or last input's)
  required = mapping.anchors(observation, source, target)
  if required:  # anchored spins fixed (the mirror that agrees with more of them), the rest flipped again
    fixed = np.zeros(len(spins), bool)
    position = {i: p for p, i in enumerate(mapped)}
    for i, sign in required.items():
      fixed[position[i]] = True
    agreeing = sum(spins[position[i]] == s for i, s in required.items())
    if mode != "same" and 2 * agreeing < len(required):  # 'same': the action's +1 is absolute
      spins = -spins
    fixed[k:] = mode == "same"
    for i, sign in required.items():
      spins[position[i]] = sign
    spins = _flipped(agree, spins, fixed)
  for i, spin in zip(mapped, spins):
    signs[i] = int(spin)
  return tuple(signs)


def scaled_search(source, target, mode, criterion="subspace", top_k=3, restarts=8, descents=None,
                  seed=0, many_to_one=True):
  """The top_k maps by `criterion`, best first: [(number, Map)] (module doc).

  source, target: mapping.Model, or TaskData (criterion 'master' needs the target's; the
  starts weigh J by significance where they are TaskData); criterion: 'subspace' (number:
  subspace_score's value, highest first) or 'master' (number: master_error's total, lowest
  first); restarts: FAQ's seeded random starts; descents: how many of the best-rated
  starts are searched from (None: 3, or 2,000 // the moves of a step where that is more:
  every start of 11 inputs into 4); many_to_one: whether two target inputs may read one
  source input (searched after the one-to-one descent). Every map rated competes."""
  scorer = _Scorer(criterion, source, target, mode)
  source_dims = len(scorer.source.dynamics)
  partners = (_partners(target), _partners(source))
  if descents is None:
    descents = max(3, 2000 // (len(scorer.target.dynamics) * (source_dims + 1)))
  for start in sorted(_starts(source, target, restarts, seed), key=scorer, reverse=True)[:descents]:
    found = _descend(start, scorer, source_dims, partners, False)
    if many_to_one:
      _descend(found, scorer, source_dims, partners, True)
  return [(value if criterion == "subspace" else -value, candidate)
          for value, candidate in scorer.ranked(top_k)]


def count_all(target_dims, source_dims, many_to_one=True):
  """How many signed maps exhaustive_search rates (mirror images counted twice)."""
  if many_to_one:
    return (1 + 2 * source_dims) ** target_dims
  return mapping.count_maps(target_dims, source_dims)


def exhaustive_search(source, target, mode, criterion="subspace", top_k=3, many_to_one=True):
  """scaled_search's answer over every map (count_all of them): for small tasks."""
  scorer = _Scorer(criterion, source, target, mode)
  target_dims, source_dims = len(scorer.target.dynamics), len(scorer.source.dynamics)
  for observation in itertools.product([None, *range(source_dims)], repeat=target_dims):
    read = [j for j in observation if j is not None]
    if not many_to_one and len(set(read)) < len(read):
      continue
    for flips in itertools.product((1, -1), repeat=len(read)):
      flips, signs = iter(flips), tuple(1 if j is None else 0 for j in observation)
      scorer(observation, tuple(s or next(flips) for s in signs))
  return [(value if criterion == "subspace" else -value, candidate)
          for value, candidate in scorer.ranked(top_k)]
