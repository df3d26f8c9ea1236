"""Each task's success criterion and random-policy floor, as a root records them.

root_dir/tasks/<env id>.json holds {env_id, criterion, floor, floor_episodes,
floor_seed, versions, floor_code}: the floor (spam_tf/rl/criteria.py) is measured once
per root and task, and again when what makes it changed: gymnasium or mujoco (they make
the episodes), or the code that collects it (`floor_code`: random_floor and every
project function and class it reaches, by their source text).
The criterion is the experiments' (gin, else gymnasium's; None for a task with neither:
spam_tf/running/summary.py judges its runs by the fallback threshold); a task whose
random policy already reaches it has no scale to normalise on, and is refused before
anything trains.
"""
import functools
import hashlib
import inspect
import os
import sys

from spam_tf import files
from spam_tf.rl import criteria
from spam_tf.running import identity

_FLOOR_PACKAGES = ("gymnasium", "mujoco")


class TaskError(ValueError):
  """A task the report cannot normalise (message is user-facing)."""


def describe(root_dir, env_id, criterion):
  """{env_id, criterion, floor, floor_episodes, floor_seed, versions, floor_code} of one task."""
  path = os.path.join(root_dir, "tasks", f"{env_id}.json")
  versions = {p: v for p, v in identity.versions().items() if p in _FLOOR_PACKAGES}
  recorded = files.read_json(path) if os.path.isfile(path) else {}
  if (recorded.get("versions") != versions or recorded.get("floor_episodes") != criteria.FLOOR_EPISODES
      or recorded.get("floor_seed") != criteria.FLOOR_SEED or recorded.get("floor_code") != floor_code()):
    recorded = {"env_id": env_id, "floor": criteria.random_floor(env_id),
                "floor_episodes": criteria.FLOOR_EPISODES, "floor_seed": criteria.FLOOR_SEED,
                "versions": versions, "floor_code": floor_code()}
    files.write_json(path, recorded)
  if criterion is not None and criterion <= recorded["floor"]:
    raise TaskError(f"{env_id}: a random policy already returns {recorded['floor']:.1f} on average, "
                    f"at or above the criterion {criterion:g}: set a higher one with success_criterion.returns")
  return {**recorded, "criterion": None if criterion is None else float(criterion)}


def describe_all(root_dir, plans):
  """{env id: describe()} of every source and target of the plans."""
  found = {}
  for plan in plans:
    for env_id, criterion in plan.criteria.items():
      if env_id not in found:
        found[env_id] = describe(root_dir, env_id, criterion)
  return found


@functools.lru_cache(maxsize=None)  # the code does not change while a process runs
def floor_code():
  """A sha256 (16 hex digits) of the code that measures a floor (`floor_sources`)."""
  text = "".join(f"{name}\n{source}\n" for name, source in sorted(floor_sources().items()))
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def floor_sources():
  """{qualified name: source text or value} of criteria.random_floor and of everything of
  spam_tf it reaches (`reached`)."""
  return reached(criteria.random_floor)


def reached(function):
  """{qualified name: source} of `function` and of every spam_tf function and class its code
  names, and theirs in turn; a constant it names (a module's number or string) as its repr.
  A name counts where the code's module holds it, or a spam_tf module the code names does
  (`collect.EpisodeCollector`): generous where names coincide, never short of a callee."""
  found, todo = {}, [function]
  while todo:
    obj = todo.pop()
    name = f"{obj.__module__}.{obj.__qualname__}"
    if name in found:
      continue
    found[name] = inspect.getsource(obj)
    names = {n for code in _code_objects(obj) for n in code.co_names}
    home = sys.modules[obj.__module__]
    modules = [home] + [m for m in (getattr(home, n, None) for n in sorted(names))
                        if inspect.ismodule(m) and _is_project(m)]
    for module in modules:
      for n in sorted(names):
        value = getattr(module, n, None)
        if (inspect.isfunction(value) or inspect.isclass(value)) and _is_project(value):
          todo.append(value)
        elif isinstance(value, (int, float, str, tuple)) and not inspect.ismodule(value):
          found[f"{module.__name__}.{n}"] = repr(value)
  return found


def _is_project(obj):
  return (getattr(obj, "__module__", None) or getattr(obj, "__name__", "")).split(".")[0] == "spam_tf"


def _code_objects(obj):
  """The code objects of a function (nested ones included) or of a class's methods."""
  if inspect.isclass(obj):
    members = [m.fget if isinstance(m, property) else getattr(m, "__func__", m) for m in vars(obj).values()]
    return [c for m in members if inspect.isfunction(m) for c in _code_objects(m)]
  todo, found = [inspect.unwrap(obj).__code__], []
  while todo:
    code = todo.pop()
    found.append(code)
    todo += [c for c in code.co_consts if inspect.iscode(c)]
  return found
