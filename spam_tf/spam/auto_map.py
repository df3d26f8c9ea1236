"""transfer.observation_map = 'auto': the inter-task map chosen from experience that the
target pays for, with "transfer nothing" always a candidate.

For one target unit (a start point of the source, the target's fresh initialisation):
  1. source transitions: a uniformly random policy on the source task (free: the
     source is simulated, and no target step is spent);
  2. target transitions: the fresh initialisation's complete episodes on the target, at
     least one, about `model_steps` steps (the training's collect_fresh);
  3. the `top_k` maps by the comparison of the two tasks' linear models, by `rule`:
     'score' mapping.search by mapping.score (spam_tf/spam/mapping.py), 'subspace'
     map_search.scaled_search by the subspace score, 'master' scaled_search by MASTER's
     prediction error, rated as the share of the target's change that the target's own
     linear model explains which the mapped source model explains, 1 - error / 1 -
     own error (spam_tf/spam/map_criteria.py); if none rates `probe_floor` (no map makes
     the source's dynamics look like the target's), nothing is transferred, without a probe;
  4. candidates: 'nothing' (the fresh initialisation: scratch), 'unmapped' (today's
     transfer), and the start carried through each map ('map_1' the best scored);
  5. successive halving over `rounds`: each round splits probe_steps / rounds equally
     among the candidates left, which run the stochastic policy in chunks of
     `chunk_episodes` episodes (cut at `episode_cap`) from the same reset seeds and
     action noise, so episodes pair across candidates; a candidate runs chunks until
     its share is used, at least one (so a round can cost up to candidates x
     chunk_episodes x episode_cap steps: the share is a target, the count is exact);
     after a round the worse half of the transferred candidates (by mean return over
     the chunks all of them ran) leaves; 'nothing' stays to the end;
  6. of the transferred candidates left, the one whose map the models rate highest is
     compared with 'nothing' on their paired episodes: chosen if its mean advantage
     exceeds `margin` standard errors, 'nothing' if its disadvantage does; where the
     probe cannot tell (a start's first episodes say little of how fast it learns: on
     Acrobot every short probe episode returns the same), it is chosen if its model
     score reaches `trust_score` (the two tasks' dynamics match), else nothing is
     transferred.
Every target step of 2 and 5 counts in the unit's env_steps. Where the choice is
'nothing', the episodes of 2 are the fresh initialisation's own complete episodes: they
become the head of iteration 1's batch (reused), and only the rest is charged as the
start's cost (train.train_eval's start_env_steps), so a unit that transfers nothing
without a probe starts where scratch starts and trains on as many target steps, with no
delay (its iteration-1 episodes are drawn on other seeds than scratch's, so its training
is a different draw, not a copy). The record (transfer.json "auto") holds the candidates,
their scores and returns, the decision and the steps.
"""
import dataclasses
import os

import gin
import numpy as np

from spam_tf import files
from spam_tf.rl import collect
from spam_tf.rl import envs as envs_lib
from spam_tf.rl import twins
from spam_tf.spam import map_criteria as criteria
from spam_tf.spam import map_search
from spam_tf.spam import mapping
from spam_tf.spam import transfer as transfer_lib

NOTHING, UNMAPPED = "nothing", "unmapped"
RULES = ("score", "subspace", "master")
TRANSFER_FILE = "transfer.json"  # in a target unit's folder: how its start was made


@dataclasses.dataclass
class Candidate:
  """A start the probe compares. returns: {(round, chunk): [episode returns]}."""
  name: str
  arrays: list
  map: mapping.Map = None
  model_score: float = None
  returns: dict = dataclasses.field(default_factory=dict)
  left_after_round: int = None

  def summary(self):
    episodes = [r for chunk in self.returns.values() for r in chunk]
    return {"name": self.name, "map": None if self.map is None else self.map.as_json(),
            "model_score": self.model_score, "probe_episodes": len(episodes),
            "probe_mean_return": float(np.mean(episodes)) if episodes else None,
            "left_after_round": self.left_after_round}


def recorded(run_dir):
  """The choice a target unit recorded in its transfer.json ("auto"), or None."""
  path = os.path.join(run_dir, TRANSFER_FILE)
  return files.read_json(path).get("auto") if os.path.exists(path) else None


def requested(kind="auto"):
  """Whether gin asks for the automatic map (transfer.observation_map = 'auto'), or for
  kind='twin' a twin target's true map (transfer.observation_map = 'twin')."""
  return gin.get_bindings("transfer").get("observation_map") == kind


def twin_map(target_env):
  """transfer.observation_map = 'twin': the target twin's true map back to its base
  (spam_tf/rl/twins.py), as a mapping.Map; a one-line error for a target that is no twin."""
  try:
    truth = twins.true_map(target_env)
  except (ValueError, envs_lib.EnvError) as error:
    raise transfer_lib.TransferError(f"transfer.observation_map='twin' needs a twin target: {error}") from None
  return mapping.Map.from_json({key: truth[key] for key in twins.MAP_KEYS})


def transfer_with(source_arrays, source_discrete, target_init, target_discrete, chosen_map):
  """transfer.transfer through a mapping.Map (None: unmapped); (arrays, how)."""
  if chosen_map is None:
    return transfer_lib.transfer(source_arrays, source_discrete, target_init, target_discrete,
                                 observation_map=None)
  arrays, how = transfer_lib.transfer(source_arrays, source_discrete, target_init, target_discrete,
                                      observation_map=chosen_map.observation,
                                      action_map=chosen_map.action_order)
  return transfer_lib.with_signs(arrays, target_discrete, chosen_map.signs, chosen_map.action_sign), how


@gin.configurable(denylist=["source_env", "target_env", "seed", "source_arrays", "source_discrete",
                            "target_init", "target_discrete", "policy_of", "collect_fresh"])
def auto_map(source_env, target_env, seed, source_arrays, source_discrete, target_init,
             target_discrete, policy_of, collect_fresh, top_k=3, source_steps=5000,
             model_steps=300, probe_floor=0.8, probe_steps=600, rounds=2, chunk_episodes=4,
             episode_cap=50, margin=2.0, trust_score=0.8, rule="score"):
  """Chooses the start (module doc). policy_of: target arrays -> a NumpyPolicy;
  collect_fresh: min steps -> the fresh initialisation's complete target episodes.

  Returns (target arrays, record, reused episodes): record holds 'chosen' (a candidate
  name), 'map' (its mapping.Map as JSON, None for nothing / unmapped), 'candidates',
  'decision', 'target_env_steps' (every target step it used), 'reused_env_steps' (those
  of the reused episodes: the head of iteration 1's batch) and 'charged_env_steps'.
  """
  if rule not in RULES:
    raise ValueError(f"auto_map.rule={rule!r}: one of {', '.join(RULES)}")
  model_episodes = collect_fresh(model_steps)
  candidates, mode, source_env_steps = _candidates(
      model_episodes, source_env, seed, source_arrays, source_discrete, target_init,
      target_discrete, source_steps, top_k, rule)
  best_score = max((c.model_score for c in candidates[1:] if c.model_score is not None),
                   default=None)
  probe = _Probe(target_env, seed, policy_of, episode_cap, chunk_episodes)
  if best_score is None or best_score < probe_floor:
    chosen, decision = candidates[0], {"best_model_score": best_score, "probe_floor": probe_floor,
                                       "verdict": "no map's dynamics match, not probed"}
  else:
    with probe:
      chosen, decision = _probe_and_decide(probe, candidates, probe_steps, rounds, margin,
                                           trust_score)
  model_env_steps = sum(ep.length for ep in model_episodes)
  reused = model_episodes if chosen.name == NOTHING else []
  reused_env_steps = model_env_steps if reused else 0
  record = {"chosen": chosen.name, "map": None if chosen.map is None else chosen.map.as_json(),
            "action_mode": mode, "candidates": [c.summary() for c in candidates],
            "decision": decision, "model_min_steps": model_steps, "model_steps": model_env_steps,
            "probe_steps": probe.steps, "target_env_steps": model_env_steps + probe.steps,
            "reused_env_steps": reused_env_steps,
            "charged_env_steps": model_env_steps + probe.steps - reused_env_steps,
            "source_env_steps": source_env_steps}
  return chosen.arrays, record, reused


def _probe_and_decide(probe, candidates, probe_steps, rounds, margin, trust_score):
  """Steps 5 and 6 of the module doc: (the chosen candidate, the evidence)."""
  survivors = candidates
  for round_index in range(rounds):
    allotment = probe_steps / rounds / len(survivors)
    for candidate in survivors:
      probe.run_round(candidate, round_index, allotment)
    if round_index < rounds - 1:
      survivors = _halve(survivors, round_index)
  nothing = candidates[0]
  return _decide(nothing, [c for c in survivors if c is not nothing], margin, trust_score)


def _candidates(model_episodes, source_env, seed, source_arrays, source_discrete, target_init,
                target_discrete, source_steps, top_k, rule="score"):
  """(['nothing', 'unmapped', 'map_1', ...], action mode, source steps): steps 1, 3 and 4
  of the module doc, the target model fitted on model_episodes."""
  nothing = Candidate(NOTHING, list(target_init))
  source_actions, target_actions = _actions(source_arrays, source_discrete), _actions(target_init, target_discrete)
  mode = mapping.action_mode(source_discrete, source_actions, target_discrete, target_actions)
  episodes = source_episodes(source_env, seed, source_steps)
  source = _task_data(episodes, source_discrete, source_actions, mode)
  target = _task_data(model_episodes, target_discrete, target_actions, mode)
  if rule == "score":
    ranked = mapping.search(source.model, target.model, mode, top_k=top_k, seed=seed)
  else:
    ranked = [(rate(rule, found, source, target, mode), found)
              for _, found in map_search.scaled_search(source, target, mode, rule, top_k=top_k, seed=seed)]
  transferred = _transferred(ranked, source_arrays, source_discrete, target_init, target_discrete)
  if len(target.model.dynamics) == len(source.model.dynamics):  # unmapped = the identity map
    transferred[0].model_score = rate(rule, _identity(len(target.model.dynamics), mode, source_actions),
                                      source, target, mode)
  return [nothing] + transferred, mode, sum(ep.length for ep in episodes)


def rate(rule, candidate, source, target, mode):
  """A map's model score by `rule` (module doc, 3), higher is better; source, target: TaskData."""
  if rule == "score":
    return mapping.score(candidate, source.model, target.model, mode)
  if rule == "subspace":
    return criteria.subspace_score(candidate, source.model, target.model, mode).value
  own = criteria.own_error(target.moments)
  error = criteria.master_error(candidate, source.model, target.moments, mode).total
  return float((1.0 - error) / (1.0 - own)) if own < 1.0 else 0.0


def _identity(dims, mode, actions):
  return mapping.Map(tuple(range(dims)), (1,) * dims, 1,
                     tuple(range(actions)) if mode == "order" else None)


def _actions(arrays, discrete):
  """Categories (categorical) or action dimensions (Gaussian) of an actor's head."""
  head_kernel = arrays[-2] if discrete else arrays[-3]
  return int(np.shape(head_kernel)[1])


def _transferred(ranked, source_arrays, source_discrete, target_init, target_discrete):
  """'unmapped' and one candidate per ranked map, dropping starts equal to one before."""
  out = []
  for index, (model_score, chosen_map) in enumerate([(None, None)] + ranked):
    arrays, _ = transfer_with(source_arrays, source_discrete, target_init, target_discrete,
                              chosen_map)
    if any(all(np.array_equal(a, b) for a, b in zip(arrays, c.arrays)) for c in out):
      continue
    name = UNMAPPED if chosen_map is None else f"map_{index}"
    out.append(Candidate(name, arrays, chosen_map, model_score))
  return out


def source_episodes(source_env, seed, steps):
  """A uniformly random policy's episodes on the source (about `steps` steps)."""
  collector = collect.EpisodeCollector(source_env, 8)
  try:
    spec = envs_lib.action_spec(collector.envs[0])
    act = collect.random_actions(spec, np.random.default_rng(collect.derive_seed(seed, 7, 0)))
    return collector.collect(act, steps, collect.derive_seed(seed, 7, 1))
  finally:
    collector.close()


def _task_data(episodes, discrete, num_actions, mode):
  """map_criteria.task_data (mapping.fit's model and the moments) of every transition."""
  observations = np.concatenate([ep.observations[:-1] for ep in episodes])
  next_observations = np.concatenate([ep.observations[1:] for ep in episodes])
  actions = np.concatenate([ep.actions for ep in episodes])
  return criteria.task_data(observations, next_observations,
                            mapping.action_features(actions, discrete, num_actions, mode))


class _Probe:
  """Runs candidates' stochastic policies on the target in chunks of paired episodes and
  counts every step it takes. Episode e of chunk k of round r starts from the same reset
  seed and draws its action noise from the same generator for every candidate (one env
  per episode, so the pairing holds whatever order episodes end in)."""

  def __init__(self, env_id, seed, policy_of, episode_cap, chunk_episodes):
    self.env_id, self.episode_cap, self.collector = env_id, episode_cap, None
    self.seed, self.policy_of, self.chunk_episodes = seed, policy_of, chunk_episodes
    self.steps = 0

  def __enter__(self):  # the env exists only while the probe runs
    self.collector = collect.EpisodeCollector(self.env_id, 1, max_episode_steps=self.episode_cap)
    return self

  def __exit__(self, *exc_info):
    self.collector.close()

  def _chunk(self, candidate, round_index, chunk):
    policy = self.policy_of(candidate.arrays)
    episodes = []
    for episode in range(self.chunk_episodes):
      keys = (self.seed, 9, round_index, chunk, episode)
      rng = np.random.default_rng(collect.derive_seed(*keys, 1))
      episodes += self.collector.collect(lambda obs: policy.sample(obs, rng), 0,
                                         collect.derive_seed(*keys, 0))
    self.steps += sum(ep.length for ep in episodes)
    return episodes

  def run_round(self, candidate, round_index, allotment):
    """Chunks until the candidate has used `allotment` steps this round (at least one)."""
    spent, chunk = 0, 0
    while chunk == 0 or spent < allotment:
      episodes = self._chunk(candidate, round_index, chunk)
      candidate.returns[(round_index, chunk)] = [ep.total_return for ep in episodes]
      spent += sum(ep.length for ep in episodes)
      chunk += 1



def _common_mean(candidates, round_index=None):
  """{name: mean return over the chunks every candidate ran (of round_index, if given)}."""
  keys = set.intersection(*(set(c.returns) for c in candidates))
  keys = sorted(k for k in keys if round_index is None or k[0] == round_index)
  return {c.name: float(np.mean([c.returns[k] for k in keys])) for c in candidates}


def _halve(survivors, round_index):
  """'nothing' and the better half (rounded up) of the transferred candidates."""
  nothing = [c for c in survivors if c.name == NOTHING]
  transferred = [c for c in survivors if c.name != NOTHING]
  if len(transferred) <= 1:
    return survivors
  means = _common_mean(transferred, round_index)
  ranked = sorted(transferred, key=lambda c: -means[c.name])
  keep = (len(ranked) + 1) // 2
  for candidate in ranked[keep:]:
    candidate.left_after_round = round_index
  return nothing + ranked[:keep]


def _decide(nothing, transferred, margin, trust_score):
  """The chosen candidate and the evidence. Of the transferred candidates the halving
  left, the one whose map the models rate highest (an unscored start last, ties by probe
  return) is compared with 'nothing' on their paired episodes: chosen if its mean
  advantage exceeds `margin` standard errors, 'nothing' if its mean disadvantage does;
  where the probe cannot tell, it is chosen if its model score reaches `trust_score`
  (the tasks' dynamics match), else nothing is transferred."""
  if not transferred:
    return nothing, {"best_transferred": None, "verdict": "no candidate"}
  last_round = max(k[0] for k in nothing.returns)
  means = _common_mean(transferred, last_round)
  rated = lambda c: (-np.inf if c.model_score is None else c.model_score, means[c.name])
  best = max(transferred, key=rated)
  keys = sorted(set(best.returns) & set(nothing.returns))
  advantage = np.concatenate([np.subtract(best.returns[k], nothing.returns[k]) for k in keys])
  standard_error = (float(np.std(advantage, ddof=1) / np.sqrt(len(advantage)))
                    if len(advantage) > 1 else float("inf"))
  mean = float(np.mean(advantage))
  evidence = {"best_transferred": best.name, "paired_episodes": int(len(advantage)),
              "mean_advantage": mean, "standard_error": standard_error, "margin": margin,
              "trust_score": trust_score}
  if mean > 0 and mean > margin * standard_error:
    return best, {**evidence, "verdict": "better than nothing"}
  if mean < 0 and -mean > margin * standard_error:
    return nothing, {**evidence, "verdict": "worse than nothing"}
  if best.model_score is not None and best.model_score >= trust_score:
    return best, {**evidence, "verdict": "probe inconclusive, dynamics match"}
  return nothing, {**evidence, "verdict": "probe inconclusive, dynamics differ"}
