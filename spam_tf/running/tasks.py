"""Each task's success criterion and random-policy floor, as a root records them.

root_dir/tasks/<env id>.json holds {env_id, criterion, floor, floor_episodes,
floor_seed, versions}: the floor (spam_tf/rl/criteria.py) is measured once per root
and task, and again only when gymnasium or mujoco changed (they make the episodes).
The criterion is the experiments' (gin); a task whose random policy already reaches
it has no scale to normalise on, and is refused before anything trains.
"""
import os

from spam_tf import files
from spam_tf.rl import criteria
from spam_tf.running import identity

_FLOOR_PACKAGES = ("gymnasium", "mujoco")


class TaskError(ValueError):
  """A task the report cannot normalise (message is user-facing)."""


def describe(root_dir, env_id, criterion):
  """{env_id, criterion, floor, floor_episodes, floor_seed, versions} of one task."""
  path = os.path.join(root_dir, "tasks", f"{env_id}.json")
  versions = {p: v for p, v in identity.versions().items() if p in _FLOOR_PACKAGES}
  recorded = files.read_json(path) if os.path.isfile(path) else {}
  if (recorded.get("versions") != versions or recorded.get("floor_episodes") != criteria.FLOOR_EPISODES
      or recorded.get("floor_seed") != criteria.FLOOR_SEED):
    recorded = {"env_id": env_id, "floor": criteria.random_floor(env_id),
                "floor_episodes": criteria.FLOOR_EPISODES, "floor_seed": criteria.FLOOR_SEED,
                "versions": versions}
    files.write_json(path, recorded)
  if criterion <= recorded["floor"]:
    raise TaskError(f"{env_id}: a random policy already returns {recorded['floor']:.1f} on average, "
                    f"at or above the criterion {criterion:g}: set a higher one with success_criterion.returns")
  return {**recorded, "criterion": float(criterion)}


def describe_all(root_dir, plans):
  """{env id: describe()} of every source and target of the plans."""
  found = {}
  for plan in plans:
    for env_id, criterion in plan.criteria.items():
      if env_id not in found:
        found[env_id] = describe(root_dir, env_id, criterion)
  return found
