"""bin/spam_maps: does a map chosen from experience find a twin's known map, at which size?

A case is (base task, twin variant, target step budget, data policy, seed); its twin
(spam_tf/rl/twins.py, twin seed = the case's seed) relabels the base's inputs, and its
actions where mapping.Map can say so (a Discrete's order, a 1-D Box's sign; Map has no word
for a permutation of a larger Box's dimensions). Per case:
  1. source: a uniformly random policy's transitions on the base as auto_map collects them
     (auto_map.source_episodes: 8 envs, complete episodes), shared by the cases of a base and seed;
  2. target: `budget` steps on the twin from one env, episodes cut at the budget, by the
     data policy: 'random', 'expert' (the base's f1 expert acting through the twin's true
     map: the twin's inputs carried back to the base's, a dropped one read as 0, as a
     transfer through the true map leaves it; its action relabelled to the twin's), or
     'expert_noise' (each action, with probability noise_share, a uniform one instead);
  3. each rule picks its best map: 'old' mapping.search by mapping.score (auto_map's today),
     'subspace' and 'master' map_search.scaled_search by those criteria;
  4. twins.recovery scores the pick against the twin's true map (`judge`).
Every draw is seeded by the case's seed, with the same keys for every budget (a smaller
budget's data are the head of a larger's). Rows are appended to <root_dir>/rows.jsonl as
cases end; a rerun skips the cases held, and refuses other settings (settings.json).
"""
import dataclasses
import functools
import os
import time

import gymnasium as gym
import numpy as np

from spam_tf import files
from spam_tf.rl import collect
from spam_tf.rl import envs as envs_lib
from spam_tf.rl import twins
from spam_tf.running import map_recovery_store as store
from spam_tf.spam import auto_map
from spam_tf.spam import map_criteria as criteria
from spam_tf.spam import map_search
from spam_tf.spam import mapping
from spam_tf.terminal import console

BASES = ("CartPole-v1", "Acrobot-v1", "Swimmer-v4", "Hopper-v4", "InvertedDoublePendulum-v4",
         "HalfCheetah-v4", "Walker2d-v4")
VARIANTS = {"plain": {}, "drop": {"dropped": 2}, "distract": {"noise": 1, "duplicated": 1}}
BUDGETS = (300, 1000, 2000, 5000)
POLICIES = ("random", "expert", "expert_noise")
RULES = ("old", "subspace", "master")
LOG_FILE = "spam_maps.log"
TWIN_RESETS, TWIN_NOISE = 11, 12  # derive_seed purposes; auto_map's source uses 7


@dataclasses.dataclass(frozen=True)
class Settings:
  """What changes a case's numbers besides its key: the source's random steps, the
  expert's training iterations (train_eval's batch and evaluation defaults), the share
  of uniform actions in 'expert_noise'."""
  source_steps: int = 5000
  expert_iterations: int = 100
  noise_share: float = 0.5


@dataclasses.dataclass(frozen=True)
class Case:
  base: str
  variant: str
  budget: int
  policy: str
  seed: int

  @property
  def key(self):
    return self.base, self.variant, self.budget, self.policy, self.seed

  def twin(self):
    """The TwinSpec: VARIANTS' inputs; actions relabelled where a Map can say so."""
    discrete, count = _actions_of(self.base)
    relabel_actions = discrete or count == 1
    return twins.TwinSpec(self.base, self.seed, permute_actions=relabel_actions,
                          flip_actions=relabel_actions, **VARIANTS[self.variant])


def grid(bases=BASES, variants=tuple(VARIANTS), budgets=BUDGETS, policies=POLICIES, seeds=range(10)):
  """Every case, a base's and seed's together (they share the source's data)."""
  return [Case(base, variant, int(budget), policy, int(seed)) for base in bases for seed in seeds
          for variant in variants for policy in policies for budget in budgets]


def check_grid(bases, variants, policies, budgets):
  """Raises a one-line error for an env this project cannot use (envs.EnvError), an unknown
  variant or policy, or a budget below 1; before anything is written."""
  for base in bases:
    _spaces(base)
  for name, given, known in (("variant", variants, VARIANTS), ("policy", policies, POLICIES)):
    unknown = sorted(set(given) - set(known))
    if unknown:
      raise ValueError(f"unknown {name} {', '.join(unknown)}: one of {', '.join(known)}")
  if any(int(b) < 1 for b in budgets):
    raise ValueError(f"step budgets must be positive, got {', '.join(map(str, budgets))}")


# --- data ---------------------------------------------------------------------------


def _task_data(episodes, base):
  """criteria.TaskData (mapping.fit's model and its moments) of every transition of a task
  with the base's actions (the base's, or its twin's)."""
  observations = np.concatenate([ep.observations[:-1] for ep in episodes])
  next_observations = np.concatenate([ep.observations[1:] for ep in episodes])
  actions = np.concatenate([ep.actions for ep in episodes])
  features = mapping.action_features(actions, *_actions_of(base), _mode(base))
  return criteria.task_data(observations, next_observations, features)


@functools.lru_cache(maxsize=None)
def _spaces(env_id):
  """(observation space, action space) of an env."""
  env = envs_lib.make(env_id)
  env.close()
  return env.observation_space, env.action_space


def _actions_of(env_id):
  """(discrete, categories or Box dimensions) of an env's action."""
  space = _spaces(env_id)[1]
  discrete = hasattr(space, "n")
  return discrete, int(space.n) if discrete else int(space.shape[0])


def _mode(base):
  """mapping.action_mode between a base and its twin (their actions are alike; a Box of
  more than one dimension the twin leaves as it is: 'same')."""
  discrete, actions = _actions_of(base)
  return mapping.action_mode(discrete, actions, discrete, actions, same_box=True)


def _relabelling(case):
  """The twin's twins.Relabelling (its true map, per twin input and action)."""
  observation_space, action_space = _spaces(case.base)
  return twins.relabel(case.twin(), observation_space.shape[0], action_space)


@functools.lru_cache(maxsize=2)
def source_data(base, seed, steps):
  """(TaskData, steps, seconds) of the base's random-policy transitions (module doc, 1)."""
  start = time.perf_counter()
  episodes = auto_map.source_episodes(base, seed, steps)
  return _task_data(episodes, base), sum(ep.length for ep in episodes), time.perf_counter() - start


def relabelled(act_base, relabelling, base_inputs, discrete):
  """A base policy acting on the twin through its true map: twin observations [B, d_t] ->
  twin actions. act_base: (base observations [B, d_b], rng) -> base actions (spec form);
  a base input no twin input reads is 0, a duplicated one comes from its first reader."""
  reads = np.zeros((len(relabelling.sources), base_inputs), np.float32)
  for i, (j, sign) in enumerate(zip(relabelling.sources, relabelling.signs)):
    if j is not None and not reads[:, j].any():
      reads[i, j] = sign
  if discrete:
    to_twin = np.argsort(relabelling.action_order)  # base action index -> twin's
    return lambda obs, rng: to_twin[act_base(obs @ reads, rng)]
  dims, signs = list(relabelling.action_dims), np.asarray(relabelling.action_signs, np.float32)
  return lambda obs, rng: act_base(obs @ reads, rng)[:, dims] * signs


def _behaviour(case, settings, expert, spec, rng):
  """The data policy's act_fn on the twin: obs [B, d_t] -> spec actions."""
  uniform = collect.random_actions(spec, rng)
  if case.policy == "random":
    return uniform
  act = relabelled(expert.sample, _relabelling(case), _spaces(case.base)[0].shape[0],
                   _actions_of(case.base)[0])
  if case.policy == "expert":
    return lambda obs: act(obs, rng)

  def mixed(obs):
    chosen, other = act(obs, rng), uniform(obs)
    replace = rng.random(len(obs)) < settings.noise_share
    return np.where(replace.reshape((-1,) + (1,) * (np.ndim(chosen) - 1)), other, chosen)
  return mixed


def target_data(case, settings, expert=None):
  """(TaskData, steps, mean episode return) of the twin's transitions (module doc, 2)."""
  twin = case.twin()
  if twin.name not in gym.registry:  # a base beyond twins.BASE_TASKS, or a seed beyond its SEEDS
    twins.register(twin)
  collector = collect.EpisodeCollector(twin.env_id, 1, max_episode_steps=case.budget)  # or the env's own limit
  try:
    spec = envs_lib.action_spec(collector.envs[0])
    rng = np.random.default_rng(collect.derive_seed(case.seed, TWIN_NOISE))
    act = _behaviour(case, settings, expert, spec, rng)
    episodes = collector.collect(act, case.budget, collect.derive_seed(case.seed, TWIN_RESETS))
  finally:
    collector.close()
  return (_task_data(episodes, case.base), sum(ep.length for ep in episodes),
          float(np.mean([ep.total_return for ep in episodes])))


# --- the experts ----------------------------------------------------------------------


def expert_dir(root_dir, base, iterations):
  return os.path.join(root_dir, "experts", base, f"iterations_{iterations}", "seed_0")


@functools.lru_cache(maxsize=None)
def expert_policy(root_dir, base, iterations):
  """The base's f1 expert (train.train_eval, seed 0, its defaults but `iterations`),
  trained once under root_dir (a rerun reads it; a stopped training resumes from its
  checkpoint) -> (NumpyPolicy, its final greedy eval return)."""
  from spam_tf.rl import agents, policy as policy_lib, snapshots, train  # TensorFlow: only here
  from spam_tf.rl import weights as weights_lib  # pylint: disable=import-outside-toplevel
  run_dir = expert_dir(root_dir, base, iterations)
  if not os.path.exists(os.path.join(run_dir, files.RESULT_FILE)):
    console.err(f"{_clock()} expert {base}: training {iterations} iterations (once per root_dir)")
  result = train.train_eval(base, run_dir, os.path.join(run_dir, "logs"), seed=0, label=f"expert {base}",
                            iterations=iterations)
  env = envs_lib.make(base)
  spec = envs_lib.action_spec(env)
  _, actor_net = agents.make_agent(envs_lib.observation_spec(env), spec)
  arrays = weights_lib.unflatten(snapshots.load(run_dir, "final"), result["weight_shapes"])
  expert = dataclasses.replace(policy_lib.from_network(actor_net, spec), weights=list(arrays))
  return expert, result["final_eval_return"]


# --- one case ------------------------------------------------------------------------


def choose(rule, source, target, mode, seed):
  """(value, Map) the rule picks: 'old' mapping.search's best by mapping.score; 'subspace'
  and 'master' map_search.scaled_search's best (master: its error, lower is better)."""
  if rule == "old":
    return mapping.search(source.model, target.model, mode, top_k=1, seed=seed)[0]
  return map_search.scaled_search(source, target, mode, rule, top_k=1, seed=seed)[0]


def symmetric_image(truth, base_offset, mode):
  """The truth composed with the base's mirror symmetry, for the tasks whose actions map by
  sign or order (CartPole, Acrobot, the pendulums: physics unchanged when every angle,
  position and velocity is negated with the action, an input with an offset (a cosine,
  mapping.ANCHOR_OFFSET) staying as it is) -> a truth dict; None for other modes (a
  walker's mirror is not the same task)."""
  if mode not in ("sign", "order"):
    return None
  keeps = lambda j: j is None or abs(base_offset[j]) >= mapping.ANCHOR_OFFSET
  signs = tuple(s if keeps(j) else -s for j, s in zip(truth["observation"], truth["signs"]))
  if mode == "sign":
    return {**truth, "signs": signs, "action_sign": -truth["action_sign"]}
  last = len(truth["action_order"]) - 1
  return {**truth, "signs": signs, "action_order": tuple(last - k for k in truth["action_order"])}


def judge(chosen, truth, image, constant):
  """{"recovery": twins.recovery's (the map as it is) against the truth or its symmetric
  image, the better; "strict_exact": exact against the truth itself; "constant_inputs"}.
  image: symmetric_image's (or None); constant: twin inputs constant in the twin's data
  (InvertedDoublePendulum-v4's three constraint forces are always 0): nothing can tell where
  such an input goes and its weights meet a constant, so it counts as right whatever the pick."""
  def against(reference):
    observation, signs = list(chosen["observation"]), list(chosen["signs"])
    for i in constant:
      observation[i], signs[i] = reference["observation"][i], reference["signs"][i]
    return twins.recovery({**chosen, "observation": tuple(observation), "signs": tuple(signs)},
                          reference, mirror=False)
  strict = best = against(truth)
  if image is not None:
    other = against(image)
    if (other["true_inputs"], other["action"]) > (strict["true_inputs"], strict["action"]):
      best = {**other, "mirrored": True}
  return {"recovery": best, "strict_exact": strict["exact"], "constant_inputs": len(constant)}


def truth_values(truth, source, target, mode):
  """{rule: the value its criterion gives the true map} (one-to-one: a duplicated base input
  read by its first reader only, as the old search's maps are), to tell a search that missed
  a better-rated truth from a criterion that rates a wrong map higher."""
  observation, seen = [], set()
  for j in truth["observation"]:
    observation.append(j if j not in seen else None)
    seen.add(j)
  signs = tuple(s if j is not None else 1 for j, s in zip(observation, truth["signs"]))
  true_map = mapping.Map(tuple(observation), signs, truth["action_sign"],
                         None if truth["action_order"] is None else tuple(truth["action_order"]))
  return {"old": mapping.score(true_map, source.model, target.model, mode),
          "subspace": criteria.subspace_score(true_map, source.model, target.model, mode).value,
          "master": criteria.master_error(true_map, source.model, target.moments, mode).total}


def run_case(case, settings, root_dir):
  """One row (module doc): the case, its data's sizes, the truth, each rule's pick."""
  source, source_steps, source_seconds = source_data(case.base, case.seed, settings.source_steps)
  expert, expert_return = (None, None)
  if case.policy != "random":
    expert, expert_return = expert_policy(root_dir, case.base, settings.expert_iterations)
  start = collect_start = time.perf_counter()  # the shared source and expert not counted
  target, target_steps, target_return = target_data(case, settings, expert)
  collect_seconds = time.perf_counter() - collect_start
  mode = _mode(case.base)
  truth = _relabelling(case).as_map()  # = twins.true_map, without making the base again
  image = symmetric_image(truth, source.model.offset, mode)
  constant = [int(i) for i in np.flatnonzero(np.diag(target.moments.gram)[:len(truth["observation"])] <= 1e-12)]
  picks = {}
  for rule in RULES:
    rule_start = time.perf_counter()
    value, chosen = choose(rule, source, target, mode, case.seed)
    picks[rule] = {"value": value, "map": chosen.as_json(), **judge(chosen.as_json(), truth, image, constant),
                   "seconds": time.perf_counter() - rule_start}
  return {"base": case.base, "variant": case.variant, "budget": case.budget, "policy": case.policy,
          "seed": case.seed, "twin": case.twin().name, "inputs": len(source.model.dynamics),
          "twin_inputs": len(target.model.dynamics), "action_mode": mode,
          "source_steps": source_steps, "target_steps": target_steps,
          "target_mean_return": target_return, "expert_final_eval_return": expert_return,
          "truth": truth, "truth_values": truth_values(truth, source, target, mode), "rules": picks,
          "collect_seconds": collect_seconds, "seconds": time.perf_counter() - start,
          "shared_source_seconds": source_seconds}


# --- the run -----------------------------------------------------------------------------


_started = [time.time()]


def _clock():
  elapsed = int(time.time() - _started[0])
  return f"[{elapsed // 60}:{elapsed % 60:02d}]"


def _line(row):
  marks = " ".join(f"{rule} {'exact' if row['rules'][rule]['recovery']['exact'] else '-'}" for rule in RULES)
  return (f"{_clock()} {row['base']} {row['variant']} {row['budget']} {row['policy']} seed {row['seed']}: "
          f"{marks} ({row['seconds']:.1f} s)")


def run(root_dir, cases, settings=Settings()):
  """Every case of `cases` root_dir lacks, one row each (module doc); returns the rows of
  `cases` (resumed and new, in their order) and how many were computed."""
  os.makedirs(root_dir, exist_ok=True)
  with files.RootLock(root_dir):
    store.check_settings(root_dir, dataclasses.asdict(settings))
    console.log_to(os.path.join(root_dir, LOG_FILE))
    _started[0] = time.time()
    done = store.read_rows(root_dir)
    todo = [case for case in cases if case.key not in done]
    console.err(f"{_clock()} {len(cases)} case{'s' * (len(cases) != 1)} ({len(cases) - len(todo)} done); log: "
                f"{os.path.join(root_dir, LOG_FILE)}")
    cpu_start, computed = time.process_time(), 0
    try:
      for case in todo:
        done[case.key] = store.append_row(root_dir, run_case(case, settings, root_dir))
        computed += 1
        console.err(_line(done[case.key]))
    finally:  # an interrupted invocation too (Ctrl-C; a kill -9 leaves no record)
      store.record_invocation(root_dir, computed, len(todo), time.time() - _started[0],
                              time.process_time() - cpu_start)
  return [done[case.key] for case in cases], computed
