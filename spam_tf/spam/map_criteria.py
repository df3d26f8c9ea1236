"""Two criteria for an inter-task map beyond mapping.py's `score` (spam_tf/spam/map_search.py
searches by either; neither is used by auto_map.py yet): a score that inputs one side
lacks do not cap, and MASTER's prediction error beside it, on the same data (`task_data`,
`compare`). Maps are mapping.Map, partial (None) or many-to-one (two target inputs reading
one source input, as MASTER allows).

The subspace score. Under a map φ with signs σ, T_M is the target's model on its mapped
inputs M (J_t[M, M] and B_t[M]), S_φ the source's seen through φ (σσᵀ ∘ J_s[φM, φM] and
σ ∘ B_s[φM] with the action's sign or order, as mapping.score), U the source inputs read:

    cosine          = <T_M, S_φ> / (|T_M| |S_φ|)                 1 for an exact partial map
    target_coverage = |T_M|² / |T|²      source_coverage = |S_U|² / |S|²
    value           = cosine × sqrt(max(target_coverage, source_coverage))

For a one-to-one map mapping.score = cosine × sqrt(target_coverage × source_coverage): its
cap is the product of both coverages, so a perfect map of all 4 of a 4-input task into an
11-input one cannot reach 1. `value` keeps the better-covered side only: a map that reads
every input of one side (the smaller task's, or every input of a target that dropped some)
is judged on its cosine, 1 when exact, whatever the other side has besides; a map that
leaves inputs of both sides out pays the norm it leaves out (one input mapped perfectly
scores the square root of its share, below a whole true correspondence's 1). Tasks of one
size mapped one-to-one in full: value = score. An input with nothing of the other task (a
distractor) stays unmapped: reading a source input adds the source's entries against
nothing, which lowers the cosine, while the source's coverage is already 1. Equal values go
to the map with the larger of the smaller coverage (more of both sides explained).

MASTER's criterion (Taylor, Kuhlmann and Stone, 2008): the target's standardised, centred
transitions (w = [z, u], Δz) carried into the source's coordinates (source input j takes
the mean of σ_i z_i over the target inputs i reading it, 0 (its mean) where none does; the
action its sign or order), the source model's prediction of Δz_s, and target input i's
prediction p_i = σ_i Δz_s[φ(i)]. With one gain α ≥ 0 fitted to all of them (the tasks'
time steps differ: a source twice as fast predicts twice the change; gain=False: α = 1,
MASTER's own),

    error = Σ_i E(Δz_i - α p_i)² / Σ_i E(Δz_i²)        0 perfect, 1 = predicting no change

`total` over every target input (an unmapped one predicted not to change: what the search
ranks by; MASTER maps every input, here one whose prediction hurts is left unmapped),
`mapped` over the mapped ones. From second moments (`Moments`): a map costs O(d²), not O(N).

Limits seen (tests/test_map_search.py, and the measurements of the change that added this):
white noise has Δz = -z, a large norm, so a map of distractors alone onto decaying source
inputs scores 0.7-0.8 by `value` (the true map about 0.99), and MASTER, whose one gain
serves every input, maps such inputs and gets the rest wrong; both criteria compare J's
entries (or predictions through them), which the target's data leave unidentified where
its states are collinear (InvertedDoublePendulum's first 300 steps: its identity map
against a 5,000-step model of itself scored 0.10-0.81).
"""
import dataclasses

import numpy as np

from spam_tf.spam import mapping


@dataclasses.dataclass(frozen=True)
class Moments:
  """A task's standardised transitions (mapping.fit's coordinates) as centred moments.

  gram: E[w wᵀ] [d + m, d + m] with w = [z, u] centred; cross: E[w Δzᵀ] [d + m, d];
  change: E[Δz_i²] [d] (Δz centred); count: N."""
  gram: np.ndarray
  cross: np.ndarray
  change: np.ndarray
  count: int


@dataclasses.dataclass(frozen=True)
class TaskData:
  """One task's transitions as both criteria read them: mapping.fit's model and Moments."""
  model: mapping.Model
  moments: Moments


@dataclasses.dataclass(frozen=True)
class SubspaceScore:
  """subspace_score's parts (module doc); outside: the target's norm² share left unmapped."""
  value: float
  cosine: float
  target_coverage: float
  source_coverage: float

  @property
  def outside(self):
    return 1.0 - self.target_coverage


@dataclasses.dataclass(frozen=True)
class MasterError:
  """master_error's parts (module doc): total, mapped, and the gain α."""
  total: float
  mapped: float
  gain: float


def task_data(observations, next_observations, features):
  """observations, next_observations [N, d]; features [N, m] (mapping.action_features)
  -> TaskData: mapping.fit's model, and the moments in the same standardised coordinates."""
  states = np.asarray(observations, float)
  model = mapping.fit(states, next_observations, features)
  spread = states.std(axis=0)
  spread[spread <= 1e-8] = 1.0
  u = np.asarray(features, float)
  if not (u.shape[1] > 1 and np.all((u == 0) | (u == 1))):  # not one-hot: standardised
    u_spread = u.std(axis=0)
    u = u / np.where(u_spread > 1e-8, u_spread, 1.0)
  w = np.hstack([states / spread, u])
  y = (np.asarray(next_observations, float) - states) / spread
  w, y = w - w.mean(axis=0), y - y.mean(axis=0)
  return TaskData(model, Moments(w.T @ w / len(w), w.T @ y / len(w), np.mean(y ** 2, axis=0), len(w)))


def _block(model, inputs, mode):
  """The model's entries among `inputs` (J's rows and columns, B's rows), one vector."""
  effect = model.action_effect[inputs] if mode else np.zeros((len(inputs), 0))
  return np.concatenate([model.dynamics[np.ix_(inputs, inputs)].ravel(), effect.ravel()])


def _seen(candidate, source, rows, signs, mode):
  """The source's block seen through the map, aligned with _block(target, mapped)."""
  dynamics = source.dynamics[np.ix_(rows, rows)] * np.outer(signs, signs)
  if mode == "sign":
    effect = candidate.action_sign * signs * source.action_effect[rows, 0]
  elif mode == "order":
    effect = signs[:, None] * source.action_effect[rows][:, list(candidate.action_order)]
  elif mode == "same":
    effect = signs[:, None] * source.action_effect[rows]
  else:
    effect = np.zeros(0)
  return np.concatenate([dynamics.ravel(), effect.ravel()])


def subspace_score(candidate, source, target, mode):
  """The cosine on the mapped block and its coverages (module doc) -> SubspaceScore.

  candidate: mapping.Map over the target's d_t inputs; source, target: mapping.Model
  (J [d, d], B [d, m]); mode: mapping.action_mode's 'sign', 'order' or None."""
  mapped, rows, signs = mapping.mapped_parts(candidate)
  if not mapped:
    return SubspaceScore(0.0, 0.0, 0.0, 0.0)
  target_part, seen = _block(target, mapped, mode), _seen(candidate, source, rows, signs, mode)
  lengths = np.linalg.norm(target_part) * np.linalg.norm(seen)
  cosine = float(target_part @ seen / lengths) if lengths > 1e-24 else 0.0
  target_coverage = float(np.sum(target_part ** 2) / mapping.norm(target, mode) ** 2)
  read = sorted(set(rows))
  source_coverage = float(np.sum(_block(source, read, mode) ** 2) / mapping.norm(source, mode) ** 2)
  value = cosine * np.sqrt(max(target_coverage, source_coverage))
  return SubspaceScore(float(value), cosine, target_coverage, source_coverage)


def _prediction(candidate, source, target_dims, target_features, mode):
  """P [k, d_t + m_t]: mapped target input i's predicted Δz is P[i] · w (module doc)."""
  mapped, rows, signs = mapping.mapped_parts(candidate)
  into = np.zeros((len(source.dynamics), target_dims))  # the source's z from the target's
  into[rows, mapped] = signs
  into /= np.maximum(np.abs(into).sum(axis=1, keepdims=True), 1.0)  # many-to-one: the mean
  actions = np.zeros((source.action_effect.shape[1], target_features))
  if mode == "sign":
    actions[0, 0] = candidate.action_sign
  elif mode == "order":
    actions[list(candidate.action_order), np.arange(target_features)] = 1.0
  elif mode == "same":
    actions = np.eye(target_features)
  change = np.hstack([source.dynamics[rows] @ into, source.action_effect[rows] @ actions])
  return signs[:, None] * change


def master_error(candidate, source, target, mode, gain=True):
  """MASTER's normalised prediction error (module doc) -> MasterError.

  candidate: mapping.Map over the target's d_t inputs; source: mapping.Model (J [d_s, d_s],
  B [d_s, m_s]); target: Moments (gram [d_t + m_t, d_t + m_t]); mode as subspace_score."""
  mapped, _, _ = mapping.mapped_parts(candidate)
  variance = target.change
  everything, explained = float(variance.sum()), float(variance[mapped].sum())
  if not mapped or explained <= 0:
    return MasterError(1.0, 1.0, 0.0)
  features = target.gram.shape[0] - len(variance)
  predict = _prediction(candidate, source, len(variance), features, mode)  # [k, d_t + m_t]
  agreement = float(np.sum(predict * target.cross[:, mapped].T))  # Σ_i E[p_i Δz_i]
  power = float(np.sum((predict @ target.gram) * predict))        # Σ_i E[p_i²]
  alpha = (max(agreement, 0.0) / power if power > 1e-24 else 0.0) if gain else 1.0
  residual = explained - 2 * alpha * agreement + alpha ** 2 * power
  return MasterError((residual + everything - explained) / everything, residual / explained, alpha)


def compare(candidate, source, target, mode):
  """Both criteria on the same data: source, target TaskData -> (SubspaceScore, MasterError)."""
  return (subspace_score(candidate, source.model, target.model, mode),
          master_error(candidate, source.model, target.moments, mode))


def significance(task):
  """[d, d]: each entry of the task's J over its standard error (a t statistic), the
  error from the moments: residual variance of Δz_i times (E[w wᵀ]⁻¹)_kk / N. What the
  search's starts weigh J by: with few steps an input's row can be noise larger than
  another's structure (white noise has Δz = -z + noise: a row of large, meaningless
  entries)."""
  moments, d = task.moments, len(task.moments.change)
  inverse = np.linalg.pinv(moments.gram)
  residual = moments.change - np.sum(moments.cross * (inverse @ moments.cross), axis=0)  # [d]
  spread = np.maximum(np.diag(inverse)[:d], 0.0)  # a constant input: 0 (pinv), never below
  error = np.sqrt(np.maximum(residual, 0.0)[:, None] * spread[None, :] / moments.count)
  return task.model.dynamics / np.maximum(error, 1e-12)


def own_error(moments):
  """MASTER's error of the target's own least-squares model on its data: the share of
  Σ_i E(Δz_i²) it leaves unexplained (the floor no map's error can go below, up to the
  ridge)."""
  inverse = np.linalg.pinv(moments.gram)
  residual = moments.change - np.sum(moments.cross * (inverse @ moments.cross), axis=0)
  everything = float(moments.change.sum())
  return float(np.maximum(residual, 0.0).sum() / everything) if everything > 0 else 1.0


def model_of(task):
  """The mapping.Model of a Model or a TaskData."""
  return task.model if isinstance(task, TaskData) else task
