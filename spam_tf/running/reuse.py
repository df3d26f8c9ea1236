"""--reuse_units_from: link units other roots finished instead of training them again.

A unit is reused only with the very identity it has here (spam_tf/running/identity.py:
the bindings, the effective configuration with its defaults, the package versions and
the training code's version), and only if it was trained from the very units its deps
here are. A unit another root finished under other settings (the same kind, env, method,
source, seed and bindings, from deps found there too, another identity) is stale, and
so is one trained from a stale dep or one that root itself took as stale (stale.json in
its folder). Everything is found before anything is linked: if any unit is stale the run
stops with one line naming what differs, unless the user accepts stale units
(--accept_stale_units); then they are linked with a stale.json saying what differs (so a
root that reuses them from here knows), recorded in provenance, and listed by the report.

Linked folders are hard links to the other root's files (copies across file systems),
put in place whole (spam_tf/files.py link_tree), with the unit's TensorBoard run.
"""
import dataclasses
import glob
import hashlib
import json
import os
import shutil

from spam_tf import files
from spam_tf.running import identity as identity_lib
from spam_tf.running import units as units_lib

STALE_FILE = "stale.json"  # in a seed folder linked although stale: {"from", "differences"}


class StaleUnitError(ValueError):
  """A unit to reuse was trained under other settings (message is one line)."""


@dataclasses.dataclass
class Found:
  """Where another root finished a unit: its folders there, and what differs (empty: the
  very same identity, from the very same deps)."""
  root: str
  run_dir: str
  log_dir: str
  differences: list


def link_all(root_dir, units, other_roots, accept_stale=False):
  """Links every unit of `units` (dependency order) that one of other_roots finished.
  Returns ({unit: the root it came from}, [stale units accepted: {"unit", "from",
  "differences"}]). Raises StaleUnitError, linking nothing, for a stale unit unless
  accept_stale."""
  found = {}
  for unit in units:
    if not unit.external_dir and units_lib.finished_result(root_dir, unit) is None:
      where = _find(unit, other_roots, root_dir, found)
      if where is not None:
        found[unit] = where
  stale = [(unit, where) for unit, where in found.items() if where.differences]
  if stale and not accept_stale:
    unit, where = stale[0]
    raise StaleUnitError(
        f"--reuse_units_from: {unit.name} in {where.root} was trained under other settings "
        f"({'; '.join(where.differences[:3])}{'; ...' if len(where.differences) > 3 else ''}): "
        "rerun without it to train it, or pass --accept_stale_units to use it anyway")
  for unit, where in found.items():
    _link(root_dir, unit, where)
  accepted = [{"unit": os.path.relpath(unit.run_dir(root_dir), root_dir), "from": where.root,
               "differences": where.differences} for unit, where in stale]
  return {unit: where.root for unit, where in found.items()}, accepted


def _find(unit, other_roots, root_dir, found):
  """Found for the first other root that finished the unit (exactly, else stale), or None."""
  for other in other_roots:
    if os.path.abspath(other) == os.path.abspath(root_dir):
      continue
    if all(_exact_dep(d, other, root_dir, found) for d in unit.deps) and \
        units_lib.finished_result(other, unit) is not None:
      where = Found(other, unit.run_dir(other), unit.log_dir(other), _marked(unit.run_dir(other)))
    else:
      where = _stale(unit, other, found)
    if where is not None:
      where.differences += [f"trained from {d.name}, which is stale there" for d in unit.deps
                            if d in found and found[d].differences]
      return where
  return None


def _exact_dep(dep, other, root_dir, found):
  """Whether dep here is the unit `other` has in the same folder: found there exactly, or
  found exactly in another root as the very same files (that root linked it from
  `other`, or both from a third), or already the same file here (linked by an earlier run)."""
  result = files.RESULT_FILE
  if dep in found:
    where = found[dep]
    return not where.differences and (
        (where.root == other and where.run_dir == dep.run_dir(other))
        or _same_file(os.path.join(where.run_dir, result), os.path.join(dep.run_dir(other), result)))
  return _same_file(os.path.join(dep.run_dir(root_dir), result), os.path.join(dep.run_dir(other), result))


def _marked(run_dir):
  """What a root that took this unit as stale recorded it differs in ([]: nothing)."""
  path = os.path.join(run_dir, STALE_FILE)
  return list(files.read_json(path)["differences"]) if os.path.isfile(path) else []


def _stale(unit, other, found):
  """The one unit of other's like `unit` (label, seed, bindings), trained from the units
  its deps were found as there, with another identity; or None."""
  if not all(d in found and found[d].root == other for d in unit.deps):
    return None
  units_dir = os.path.join(other, "units")
  dep_families = [os.path.dirname(os.path.relpath(found[d].run_dir, units_dir)) for d in unit.deps]
  candidates = []
  for family_dir in sorted(glob.glob(os.path.join(units_dir, unit.label, "*"))):
    run_dir = os.path.join(family_dir, f"seed_{unit.seed}")
    if _read(os.path.join(family_dir, "config.gin")) != unit.config or units_lib.finished_at(run_dir, unit) is None:
      continue
    recorded = _read_json(os.path.join(family_dir, units_lib.IDENTITY_FILE))
    trained_from = recorded["deps"] if recorded else _pre_identity_deps(unit, family_dir, dep_families)
    if trained_from != dep_families:
      continue
    family = os.path.relpath(family_dir, units_dir)
    differences = identity_lib.differences(recorded and recorded["identity"], unit.identity)
    candidates.append(Found(other, run_dir, os.path.join(other, "logs", family, f"seed_{unit.seed}"),
                            differences + _marked(run_dir)))
  return candidates[0] if len(candidates) == 1 else None


def _pre_identity_deps(unit, family_dir, dep_families):
  """dep_families if the folder's name is the hash a unit trained from them had before
  identities covered defaults, versions and code (so its deps were those), else None."""
  key = json.dumps([unit.kind, unit.env_id, unit.method, unit.source, unit.config, None, dep_families])
  return dep_families if os.path.basename(family_dir) == hashlib.sha256(key.encode()).hexdigest()[:10] else None


def _link(root_dir, unit, where):
  if os.path.isdir(where.log_dir):
    files.link_tree(where.log_dir, unit.log_dir(root_dir))
  elif os.path.isdir(unit.log_dir(root_dir)):  # an unfinished attempt's curves
    shutil.rmtree(unit.log_dir(root_dir))
  marker = {STALE_FILE: {"from": where.root, "differences": where.differences}} if where.differences else None
  files.link_tree(where.run_dir, unit.run_dir(root_dir), marker)  # last: result.json means done
  units_lib.write_config(root_dir, unit)


def _read(path):
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return None


def _read_json(path):
  return files.read_json(path) if os.path.isfile(path) else None


def _same_file(a, b):
  try:
    return os.path.samefile(a, b)
  except OSError:
    return False
