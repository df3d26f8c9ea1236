"""--reuse_units_from: link units other roots finished instead of training them again.

A unit is reused only with the very identity it has here (spam_tf/running/identity.py:
the bindings, the effective configuration with its defaults, the package versions and
the training code's version), and only if its deps here are the very files it was
trained from there. A unit another root finished under other settings (the same
kind, env, method, source, seed and bindings, another identity) is stale: the run
stops with one line naming what differs, unless the user accepts stale units
(--accept_stale_units); then it is linked all the same and recorded, and the report
lists it.

Linked folders are hard links to the other root's files (copies across file systems),
put in place whole (spam_tf/files.py link_tree), with the unit's TensorBoard run.
"""
import dataclasses
import glob
import os
import shutil

from spam_tf import files
from spam_tf.running import identity as identity_lib
from spam_tf.running import units as units_lib


class StaleUnitError(ValueError):
  """A unit to reuse was trained under other settings (message is one line)."""


@dataclasses.dataclass
class Found:
  """Where another root finished a unit: its folders there, and what differs (empty: the
  very same identity)."""
  root: str
  run_dir: str
  log_dir: str
  differences: list


def link_all(root_dir, units, other_roots, accept_stale=False):
  """Links every unit of `units` (dependency order) that one of other_roots finished.
  Returns ({unit: the root it came from}, [stale units accepted: {"unit", "from",
  "differences"}]). Raises StaleUnitError for a stale unit unless accept_stale."""
  found, accepted = {}, []
  for unit in units:
    if unit.external_dir or units_lib.finished_result(root_dir, unit) is not None:
      continue
    where = _find(unit, other_roots, root_dir, found)
    if where is None:
      continue
    if where.differences and not accept_stale:
      raise StaleUnitError(
          f"--reuse_units_from: {unit.name} in {where.root} was trained under other settings "
          f"({'; '.join(where.differences[:3])}{'; ...' if len(where.differences) > 3 else ''}): "
          "rerun without it to train it, or pass --accept_stale_units to use it anyway")
    _link(root_dir, unit, where)
    found[unit] = where
    if where.differences:
      accepted.append({"unit": os.path.relpath(unit.run_dir(root_dir), root_dir), "from": where.root,
                       "differences": where.differences})
  return {unit: where.root for unit, where in found.items()}, accepted


def _find(unit, other_roots, root_dir, found):
  """Found for the first other root that finished the unit (exactly, else stale), or None."""
  for other in other_roots:
    if os.path.abspath(other) == os.path.abspath(root_dir):
      continue
    deps_from_here = all(_same_file(os.path.join(d.run_dir(root_dir), files.RESULT_FILE),
                                    os.path.join(d.run_dir(other), files.RESULT_FILE)) for d in unit.deps)
    if deps_from_here and units_lib.finished_result(other, unit) is not None:
      return Found(other, unit.run_dir(other), unit.log_dir(other), [])
    stale = _stale(unit, other, found)
    if stale is not None:
      return stale
  return None


def _stale(unit, other, found):
  """The one unit of other's like `unit` (label, seed, bindings) with another identity,
  trained from the units its deps were linked from; or None."""
  if not all(d in found and found[d].root == other for d in unit.deps):
    return None
  dep_families = [os.path.dirname(os.path.relpath(found[d].run_dir, os.path.join(other, "units")))
                  for d in unit.deps]
  candidates = []
  for family_dir in sorted(glob.glob(os.path.join(other, "units", unit.label, "*"))):
    run_dir = os.path.join(family_dir, f"seed_{unit.seed}")
    if (_read(os.path.join(family_dir, "config.gin")) != unit.config
        or units_lib.finished_at(run_dir, unit) is None):
      continue
    recorded = _read_json(os.path.join(family_dir, units_lib.IDENTITY_FILE))
    if recorded is not None and recorded["deps"] != dep_families:
      continue
    family = os.path.relpath(family_dir, os.path.join(other, "units"))
    candidates.append(Found(other, run_dir, os.path.join(other, "logs", family, f"seed_{unit.seed}"),
                            identity_lib.differences(recorded and recorded["identity"], unit.identity)))
  return candidates[0] if len(candidates) == 1 else None


def _link(root_dir, unit, where):
  if os.path.isdir(where.log_dir):
    files.link_tree(where.log_dir, unit.log_dir(root_dir))
  elif os.path.isdir(unit.log_dir(root_dir)):  # an unfinished attempt's curves
    shutil.rmtree(unit.log_dir(root_dir))
  files.link_tree(where.run_dir, unit.run_dir(root_dir))  # last: result.json means done
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
