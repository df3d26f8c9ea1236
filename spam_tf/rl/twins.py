"""Relabelled twins: a task whose observation is another task's own inputs, permuted and
sign-flipped by a seeded map (optionally with inputs dropped, or distractors added), and
whose actions may be permuted or flipped. The twin's true map back to its base is known,
so a map chosen from experience (spam_tf/spam/mapping.py) can be scored against it.

The seeded map of a TwinSpec, drawn in this order from numpy's default_rng(seed), so that
a twin with and without relabelled actions has the same observation map:
  1. `dropped` base inputs leave (chosen without replacement);
  2. `duplicated` kept inputs are copied (chosen without replacement among the kept);
  3. the layout [kept inputs in base order, copies, `noise` inputs] is permuted, so
     distractors land anywhere;
  4. every twin input gets a sign, +1 or -1 (a noise input keeps +1: noise is symmetric);
  5. the actions: a Discrete action's indices are permuted (a 2-action Discrete is
     swapped: its only relabelling, and mapping.py's "sign flip"), a Box action's
     dimensions are permuted and signed; each redrawn until it differs from the base's,
     since the id's `-act` promises relabelled actions.
Noise inputs are i.i.d. N(0, 1), one draw per input per observation, from a generator
seeded by the env's reset seed: the same reset seed gives the same observations.

Registered on import (gymnasium's make of 'module:Id' imports the module first, and so
does spam_tf.rl.envs.spec_of), under the ids

    spam_tf.rl.twins:<Base>-twin<seed>[-drop<k>][-noise<k>][-dup<k>][-act]-v0

for BASE_TASKS, seeds 0..19, drop 0..2, noise 0..1, dup 0..1, with and without -act
(3840 ids); `register(TwinSpec(...))` adds any other. The twin keeps its base's
reward_threshold and max_episode_steps.
"""
import dataclasses
import itertools

import gymnasium as gym
import numpy as np
from gymnasium.envs import registration

from spam_tf.rl import envs

BASE_TASKS = ("CartPole-v1", "Acrobot-v1", "InvertedPendulum-v4", "InvertedDoublePendulum-v4",
              "Swimmer-v4", "Hopper-v4", "HalfCheetah-v4", "Walker2d-v4")
SEEDS = range(20)
DROPPED, NOISE, DUPLICATED = (0, 1, 2), (0, 1), (0, 1)
MODULE = "spam_tf.rl.twins"
ENTRY_POINT = f"{MODULE}:make_twin"
NOISE_STREAM = 0x7417  # mixed into the reset seed: noise independent of the base's own draws
MAP_KEYS = ("observation", "signs", "action_sign", "action_order")  # spam_tf.spam.mapping.Map's


@dataclasses.dataclass(frozen=True)
class TwinSpec:
  """A twin of `base` (a gymnasium id): seed of its map, how many base inputs it drops,
  how many noise and duplicated inputs it adds, and whether it permutes / flips actions
  (flip: a Box's dimensions signed, a 2-action Discrete swapped, a larger Discrete as is)."""
  base: str
  seed: int
  dropped: int = 0
  noise: int = 0
  duplicated: int = 0
  permute_actions: bool = False
  flip_actions: bool = False

  @property
  def name(self):
    """The registry id, e.g. 'HalfCheetah-twin0-drop2-noise1-v0' (-perm / -flip: one of
    the two action relabellings, -act: both)."""
    namespace, base_name, _ = registration.parse_env_id(self.base)
    counts = "".join(f"-{label}{count}" for label, count in
                     (("drop", self.dropped), ("noise", self.noise), ("dup", self.duplicated)) if count)
    actions = {(True, True): "-act", (True, False): "-perm", (False, True): "-flip"}.get(
        (self.permute_actions, self.flip_actions), "")
    return registration.get_env_id(namespace, f"{base_name}-twin{self.seed}{counts}{actions}", 0)

  @property
  def env_id(self):
    """The id to name in gin or --target: the registry id with this module in front."""
    return f"{MODULE}:{self.name}"


@dataclasses.dataclass(frozen=True)
class Relabelling:
  """A twin's map onto its base, per twin input / action (the Map vocabulary's direction:
  the target twin reads the source base).

  sources: per twin input, the base input it reads (None: noise); signs: ±1 per twin input;
  action_order: Discrete: per twin action index, the base action index; else None;
  action_dims, action_signs: Box: per twin action dimension, the base dimension it drives
  and its sign; else None."""
  sources: tuple
  signs: tuple
  action_order: tuple = None
  action_dims: tuple = None
  action_signs: tuple = None

  def as_map(self):
    """The true map as plain tuples/ints: MAP_KEYS (spam_tf.spam.mapping.Map's; action_sign
    -1 where a 2-action Discrete is swapped or a 1-D Box flipped, action_order only for
    Discrete with more than 2 actions), and for a Box action of more than one dimension
    `action_dims` / `action_dim_signs` (None otherwise), which mapping.py does not compare."""
    action_sign, order, dims, dim_signs = 1, None, None, None
    if self.action_order is not None and len(self.action_order) == 2:
      action_sign = -1 if self.action_order == (1, 0) else 1
    elif self.action_order is not None and len(self.action_order) > 2:
      order = self.action_order
    elif self.action_dims is not None and len(self.action_dims) == 1:
      action_sign = self.action_signs[0]
    elif self.action_dims is not None:
      dims, dim_signs = self.action_dims, self.action_signs
    return {"observation": self.sources, "signs": self.signs, "action_sign": action_sign,
            "action_order": order, "action_dims": dims, "action_dim_signs": dim_signs}


def relabel(twin: TwinSpec, base_inputs: int, action_space: gym.Space) -> Relabelling:
  """The seeded map of `twin` (module doc) for a base with `base_inputs` inputs."""
  rng = np.random.default_rng(twin.seed)
  if not 0 <= twin.dropped < base_inputs:
    raise ValueError(f"{twin.name}: cannot drop {twin.dropped} of {base_inputs} inputs")
  dropped = set(int(i) for i in rng.choice(base_inputs, size=twin.dropped, replace=False))
  kept = [i for i in range(base_inputs) if i not in dropped]
  if twin.duplicated > len(kept):
    raise ValueError(f"{twin.name}: cannot duplicate {twin.duplicated} of {len(kept)} inputs")
  copies = [int(i) for i in rng.choice(kept, size=twin.duplicated, replace=False)]
  layout = kept + copies + [None] * twin.noise
  sources = tuple(layout[int(k)] for k in rng.permutation(len(layout)))
  signs = tuple(int(s) if j is not None else 1
                for j, s in zip(sources, rng.choice((1, -1), size=len(sources))))
  return Relabelling(sources, signs, **_relabel_actions(twin, action_space, rng))


def _relabel_actions(twin, action_space, rng):
  """Relabelling's action fields, drawn after the observation's (module doc, step 5)."""
  if isinstance(action_space, gym.spaces.Discrete):
    count = int(action_space.n)
    relabelled = twin.permute_actions or (twin.flip_actions and count == 2)
    return {"action_order": _permutation(rng, count) if relabelled else tuple(range(count))}
  count = action_space.shape[0]
  dims = _permutation(rng, count) if twin.permute_actions else tuple(range(count))
  signs = (1,) * count
  while twin.flip_actions and signs == (1,) * count:
    signs = tuple(int(s) for s in rng.choice((1, -1), size=count))
  return {"action_dims": dims, "action_signs": signs}


def _permutation(rng, count):
  """A seeded permutation of range(count) other than the identity (when there is one)."""
  order = tuple(range(count))
  while count > 1 and order == tuple(range(count)):
    order = tuple(int(k) for k in rng.permutation(count))
  return order


class Twin(gym.Wrapper, gym.utils.RecordConstructorArgs):
  """`env` relabelled by `twin`'s map (a TwinSpec or its fields): observation [twin inputs]
  from the base's [base inputs], actions taken in the twin's labels and passed on in the
  base's. It records its arguments, so gymnasium can make it again from env.spec."""

  def __init__(self, env: gym.Env, twin):
    twin = twin if isinstance(twin, TwinSpec) else TwinSpec(**twin)
    gym.utils.RecordConstructorArgs.__init__(self, twin=dataclasses.asdict(twin))
    gym.Wrapper.__init__(self, env)
    envs.check_spaces(twin.base, env.observation_space, env.action_space)
    self.twin = twin
    self.relabelling = relabel(twin, env.observation_space.shape[0], env.action_space)
    sources = self.relabelling.sources
    self._reads = np.array([i for i, j in enumerate(sources) if j is not None], int)  # twin positions
    self._read_sources = np.array([j for j in sources if j is not None], int)  # their base inputs
    self._read_signs = np.array(self.relabelling.signs, env.observation_space.dtype)[self._reads]
    self._noise_positions = np.array([i for i, j in enumerate(sources) if j is None], int)
    self._noise_rng = None
    self.observation_space = _observation_space(self.relabelling, env.observation_space)
    self.action_space = _action_space(self.relabelling, env.action_space)

  def reset(self, *, seed=None, options=None):
    base_observation, info = self.env.reset(seed=seed, options=options)
    # A seeded reset restarts the noise; an unseeded one continues it (gymnasium's convention).
    if seed is not None or self._noise_rng is None:
      self._noise_rng = np.random.default_rng(None if seed is None else (int(seed), NOISE_STREAM))
    return self._observe(base_observation), info

  def step(self, action):
    base_observation, reward, terminated, truncated, info = self.env.step(self.base_action(action))
    return self._observe(base_observation), reward, terminated, truncated, info

  def _observe(self, base_observation):
    """base observation [base inputs] -> twin observation [twin inputs]."""
    observation = np.empty(self.observation_space.shape, self.observation_space.dtype)
    observation[self._reads] = self._read_signs * np.asarray(base_observation)[self._read_sources]
    if len(self._noise_positions):
      observation[self._noise_positions] = self._noise_rng.standard_normal(len(self._noise_positions))
    return observation

  def base_action(self, action):
    """A twin action (Discrete index or Box vector [dims]) -> the base action it means."""
    space, relabelling = self.env.action_space, self.relabelling
    if isinstance(space, gym.spaces.Discrete):
      return int(space.start) + relabelling.action_order[int(action) - int(space.start)]
    base = np.empty(space.shape, space.dtype)
    base[list(relabelling.action_dims)] = np.asarray(relabelling.action_signs) * np.asarray(action)
    return base


def _observation_space(relabelling, base_space):
  """The twin's Box: a flipped input swaps and negates its base bounds; noise -inf..inf."""
  low, high = [], []
  for j, sign in zip(relabelling.sources, relabelling.signs):
    bounds = (-np.inf, np.inf) if j is None else (base_space.low[j], base_space.high[j])
    low.append(bounds[0] if sign > 0 else -bounds[1])
    high.append(bounds[1] if sign > 0 else -bounds[0])
  return gym.spaces.Box(np.array(low, base_space.dtype), np.array(high, base_space.dtype),
                        dtype=base_space.dtype)


def _action_space(relabelling, base_space):
  if isinstance(base_space, gym.spaces.Discrete):
    return gym.spaces.Discrete(base_space.n, start=base_space.start)
  dims, signs = list(relabelling.action_dims), np.asarray(relabelling.action_signs)
  low = np.where(signs > 0, base_space.low[dims], -base_space.high[dims])
  high = np.where(signs > 0, base_space.high[dims], -base_space.low[dims])
  return gym.spaces.Box(low.astype(base_space.dtype), high.astype(base_space.dtype),
                        dtype=base_space.dtype)


def make_twin(**kwargs) -> gym.Env:
  """The registered entry point: kwargs are TwinSpec's fields, the rest go to the base's
  make (render_mode, ...). The base comes without its time limit and env checker: gym.make
  of the twin adds both (the base's limit, from the twin's spec)."""
  fields = {field.name for field in dataclasses.fields(TwinSpec)}
  twin = TwinSpec(**{key: value for key, value in kwargs.items() if key in fields})
  base_kwargs = {key: value for key, value in kwargs.items() if key not in fields}
  base = gym.make(twin.base, max_episode_steps=-1, disable_env_checker=True, **base_kwargs)
  return Twin(base, twin)


def register(twin: TwinSpec, check=True):
  """Registers `twin` under twin.name with its base's reward_threshold and max_episode_steps.
  check=False skips gym.register's check of the id against every registered spec (the
  bulk below: that check made 3840 registrations take half a second)."""
  base = gym.spec(twin.base)
  arguments = dict(id=twin.name, entry_point=ENTRY_POINT, reward_threshold=base.reward_threshold,
                   nondeterministic=base.nondeterministic, max_episode_steps=base.max_episode_steps,
                   kwargs=dataclasses.asdict(twin))
  if check:
    gym.register(**arguments)
  else:
    gym.registry[twin.name] = registration.EnvSpec(**arguments)


def registered_twins():
  """The TwinSpecs registered on import (module doc)."""
  for base, seed, dropped, noise, duplicated, actions in itertools.product(
      BASE_TASKS, SEEDS, DROPPED, NOISE, DUPLICATED, (False, True)):
    yield TwinSpec(base, seed, dropped, noise, duplicated, actions, actions)


def twin_spec(env_id_or_spec) -> TwinSpec:
  """The TwinSpec of a registered twin id (with or without this module in front)."""
  if isinstance(env_id_or_spec, TwinSpec):
    return env_id_or_spec
  spec = envs.spec_of(env_id_or_spec)
  if spec.entry_point != ENTRY_POINT:
    raise envs.EnvError(f"{env_id_or_spec} is not a twin (its entry point is {spec.entry_point})")
  fields = {field.name for field in dataclasses.fields(TwinSpec)}
  return TwinSpec(**{key: value for key, value in spec.kwargs.items() if key in fields})


def true_map(env_id_or_spec) -> dict:
  """The twin's true map, the twin as target and its base as source, in the Map vocabulary
  (Relabelling.as_map): {"observation", "signs", "action_sign", "action_order",
  "action_dims", "action_dim_signs"}. Makes the base env once to read its spaces."""
  twin = twin_spec(env_id_or_spec)
  base = envs.make(twin.base)
  try:
    return relabel(twin, base.observation_space.shape[0], base.action_space).as_map()
  finally:
    base.close()


def recovery(chosen: dict, truth: dict, mirror: bool = True) -> dict:
  """How much of a twin's true map `truth` (true_map's) the map `chosen` recovers; both in the
  Map vocabulary (spam_tf.spam.mapping.Map.as_json() gives one; a key it lacks means the
  identity: no action order, no dimension permutation, signs +1). A map and its mirror image
  (every sign flipped, and the action sign where actions compare by sign) count as the same
  map where mapping.py scores them equal (all but 'order' mode): the better of the two counts
  (mirror=False: the map as it is only).

    true_inputs  share of the base inputs the twin reads that a twin input reading them maps
                 to, with its sign (a duplicated base input counts once: either reader will do)
    distractors  share of the distractors left unmapped: noise inputs, and of the two readers
                 of a duplicated base input one (None: the twin has no distractor)
    action       whether the action sign, order and (Box) dimensions are right
    exact        every true input and the action right
    mirrored     whether the mirror image is the one counted
  """
  if len(chosen["observation"]) != len(truth["observation"]):
    raise ValueError(f"a map of {len(chosen['observation'])} inputs for a twin of "
                     f"{len(truth['observation'])}")
  as_is = _judge(chosen, truth)
  if mirror and truth["action_order"] is None:
    mirror = _judge(_mirror(chosen, sign_mode=truth.get("action_dims") is None), truth)
    if (mirror["true_inputs"], mirror["action"]) > (as_is["true_inputs"], as_is["action"]):
      return {**mirror, "mirrored": True}
  return {**as_is, "mirrored": False}


def _mirror(chosen, sign_mode):
  """chosen with every input sign flipped, the action sign too in 'sign' mode, and Box
  dimension signs where it states them."""
  dim_signs = chosen.get("action_dim_signs")
  return {**chosen, "signs": tuple(-s for s in chosen["signs"]),
          "action_sign": -chosen.get("action_sign", 1) if sign_mode else chosen.get("action_sign", 1),
          "action_dim_signs": None if dim_signs is None else tuple(-s for s in dim_signs)}


def _judge(chosen, truth):
  """recovery's shares for chosen as it is."""
  readers = {}  # base input -> the twin inputs that read it
  for i, j in enumerate(truth["observation"]):
    if j is not None:
      readers.setdefault(j, []).append(i)
  right = lambda i: (chosen["observation"][i] == truth["observation"][i]
                     and chosen["signs"][i] == truth["signs"][i])
  unmapped = lambda i: chosen["observation"][i] is None
  true_right = sum(any(right(i) for i in group) for group in readers.values())
  noise = [i for i, j in enumerate(truth["observation"]) if j is None]
  distractors = len(noise) + sum(len(group) - 1 for group in readers.values())
  distractors_unmapped = sum(unmapped(i) for i in noise) + sum(
      min(sum(unmapped(i) for i in group), len(group) - 1) for group in readers.values())
  true_inputs = true_right / len(readers)
  action = _action_right(chosen, truth)
  return {"true_inputs": true_inputs,
          "distractors": distractors_unmapped / distractors if distractors else None,
          "action": action, "exact": true_right == len(readers) and action}


def _action_right(chosen, truth):
  """Whether chosen's action sign, order and Box dimensions with signs are truth's."""
  same = lambda a, b, default: tuple(a if a is not None else default) == tuple(
      b if b is not None else default)
  order_length = len(truth["action_order"] or chosen.get("action_order") or ())
  dims_length = len(truth.get("action_dims") or chosen.get("action_dims") or ())
  return (chosen.get("action_sign", 1) == truth["action_sign"]
          and same(chosen.get("action_order"), truth["action_order"], range(order_length))
          and same(chosen.get("action_dims"), truth.get("action_dims"), range(dims_length))
          and same(chosen.get("action_dim_signs"), truth.get("action_dim_signs"), (1,) * dims_length))


def _register_all():
  """Every registered_twins() id not registered yet (a reload keeps what is there)."""
  for twin in registered_twins():
    if twin.name not in gym.registry:
      register(twin, check=False)


_register_all()
