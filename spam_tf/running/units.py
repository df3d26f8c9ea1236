"""Units of work and their content-derived identities.

A unit is one trained thing: a source expert (kind 'expert'), an autoencoder on
that expert ('autoencoder'), a genome autoencoder on a zoo of experts
('genome', spam_tf/spam/genome.py) or one f2 run on the target ('target', with its
start-point method). Its identity is what determines its result: kind, env,
method, seed, the gin bindings that reach it, its effective configuration, the
package versions and the training code's version (spam_tf/running/identity.py), and
the identities of the units it reads. Two experiments that need the same unit
therefore name the same folder,
and it is trained once (the CartPole experts serve the paper's 4.1, 4.2 and
4.3; the InvertedPendulum scratch runs serve 4.1 and 4.2).

Which bindings reach a unit (the rest are left out of its config and its key):
  expert       everything but scope 'target/', transfer, the autoencoder's and the genome's;
  autoencoder  the expert's, plus build_autoencoder and train_autoencoder;
  genome       the expert's, plus zoo, build_genome_autoencoder and train_genome;
  target       everything but scope 'source/', with transfer and the part its start
               point reads (the autoencoder's, the genome's, or for zoo_mean zoo and
               train_genome but not the code size; scratch: none).
success_criterion reaches none (experiments apply it to the units' curves).
Unknown sections count as reaching every unit: a key may split units that could
have been shared, never share units that differ.

Layout under root_dir:
  units/<kind>/<label>/<config hash>/seed_<s>/   result.json (present = done), ...
  units/<kind>/<label>/<config hash>/config.gin  the unit's exact gin config
  units/<kind>/<label>/<config hash>/identity.json  what its hash covers (to say what differs)
  units/<kind>/<label>/<config hash>/.seed_<s>.lock  held while a worker runs it
  logs/<kind>/<label>/<config hash>/seed_<s>/    its TensorBoard run
"""
import dataclasses
import functools
import hashlib
import json
import os
import re
from typing import Optional, Tuple

from spam_tf import files

RESULT_FILE = files.RESULT_FILE
SPARSITY_FILE = "sparsity.json"
IDENTITY_FILE = "identity.json"
# Configurables only some units read: {part: configurable names}.
_OPTIONAL = {"transfer": ("transfer", "auto_map"), "autoencoder": ("build_autoencoder", "train_autoencoder"),
             "genome": ("zoo", "build_genome_autoencoder", "train_genome"),
             "zoo": ("zoo", "train_genome"),  # zoo_mean: the zoo's best networks, no autoencoder
             "expert": ()}  # a start point made from M* alone
# Read by experiments when they judge the curves, never by a unit (spam_tf/rl/criteria.py):
# one unit serves experiments of any criterion.
_EXPERIMENT_ONLY = ("success_criterion",)
_HEADER = re.compile(r"^# Parameters for (?:(\w+)/)?([\w.]+):$", re.M)


@dataclasses.dataclass(frozen=True)
class Unit:
  """One unit of a sweep. deps: the units whose results it reads (a target: its expert and
  its autoencoder or genome unit, or for zoo_mean the zoo's experts; a genome unit: its
  expert, then the zoo's experts)."""
  kind: str
  env_id: str
  seed: int
  config: str                  # the gin text parsed before the unit runs
  method: Optional[str] = None  # target units: the start-point method
  source: Optional[str] = None  # target units from a source: its env id
  deps: Tuple["Unit", ...] = ()
  external_dir: Optional[str] = None  # an expert reused from another root (--source_expert_dir)
  identity: str = ""  # identity.describe(): effective config, package versions, training code

  @functools.cached_property
  def family(self):
    """The unit's folder without its seed: units that differ only by seed share it."""
    key = json.dumps([self.kind, self.env_id, self.method, self.source, self.config, self.identity,
                      self.external_dir and os.path.dirname(os.path.abspath(self.external_dir)),
                      [d.family for d in self.deps]])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return os.path.join(self.label, digest)

  @property
  def label(self):
    """The family's folder above its hash: kind, env and, for a target, method and source."""
    label = [self.kind, self.env_id]
    if self.kind == "target":
      label += [self.method] + ([f"from_{self.source}"] if self.source else [])
    return os.path.join(*label)

  @property
  def name(self):
    """Readable label for progress lines and errors."""
    what = self.kind if self.kind != "target" else f"target {self.method}"
    return f"seed {self.seed} {what} {self.env_id}"

  def run_dir(self, root_dir):
    if self.external_dir:
      return self.external_dir
    return os.path.join(root_dir, "units", self.family, f"seed_{self.seed}")

  def log_dir(self, root_dir):
    return os.path.join(root_dir, "logs", self.family, f"seed_{self.seed}")

  def lock_path(self, root_dir):
    """Held by the worker running the unit (files.waiting_lock)."""
    return os.path.join(root_dir, "units", self.family, f".seed_{self.seed}.lock")


def sections(config_text):
  """Splits gin.config_str() output into [(scope or '', configurable, text)]."""
  result = []
  for block in config_text.strip().split("\n\n"):
    match = _HEADER.search(block)
    scope, name = (match.group(1) or "", match.group(2)) if match else ("", "")
    result.append((scope, name, block.strip()))
  return result


def config_for(kind, config_text, reads=None):
  """The part of an experiment's config that reaches a unit of `kind` (see module doc).

  reads: the optional parts the unit reads, of 'transfer', 'autoencoder', 'genome', 'zoo'.
  Default by kind: an autoencoder or genome unit reads its own part; an expert none.
  A target from a source reads ('transfer', what its start point reads); scratch none.
  """
  if reads is None:
    reads = {"autoencoder": ("autoencoder",), "genome": ("genome",)}.get(kind, ())
  dropped_scope = "source" if kind == "target" else "target"
  kept_names = {name for part in reads for name in _OPTIONAL[part]}
  dropped = [name for part, names in _OPTIONAL.items() if part not in reads for name in names
             if name not in kept_names] + list(_EXPERIMENT_ONLY)
  kept = [block for scope, name, block in sections(config_text)
          if scope != dropped_scope and name not in dropped]
  return "\n\n".join(kept) + "\n" if kept else ""


def finished_result(root_dir, unit):
  """The unit's result when it is done (result.json, and for a target from a source its
  sparsity.json), else None."""
  return finished_at(unit.run_dir(root_dir), unit)


def finished_at(run_dir, unit):
  """finished_result of `unit`'s files in run_dir (the unit's own folder, or another
  root's folder of a unit like it)."""
  result_path = os.path.join(run_dir, RESULT_FILE)
  if not os.path.isfile(result_path):
    return None
  result = files.read_json(result_path)
  if unit.kind != "target":
    return result
  if not unit.source:
    return {"target": result, "sparsity": None}
  sparsity_path = os.path.join(run_dir, SPARSITY_FILE)
  if not os.path.isfile(sparsity_path):
    return None
  return {"target": result, "sparsity": files.read_json(sparsity_path)}


def without_experiment_only(config_text):
  """config_text without the sections no unit reads (the success criterion): what a root's
  units depend on, so a changed criterion re-judges a root's units instead of refusing it.
  Comment lines above a dropped section (a sweep's "# ===== experiment" headers) stay;
  blank lines go (the text is compared, not parsed)."""
  kept = []
  for _, name, block in sections(config_text):
    lines = block.splitlines()
    kept += [line for line in lines[:1] if line.startswith("# =====")] if name in _EXPERIMENT_ONLY else lines
  return "\n".join(line for line in kept if line.strip())


def is_experiment_only(binding):
  """Whether a gin binding ('scope/name.parameter = value') sets a section no unit reads."""
  name = binding.split("=", 1)[0].strip().split("/")[-1].rsplit(".", 1)[0]
  return name in _EXPERIMENT_ONLY


def write_config(root_dir, unit):
  """Writes the unit's gin config and identity.json beside its seeds (once per family)."""
  if unit.external_dir:
    return
  family_dir = os.path.join(root_dir, "units", unit.family)
  if not os.path.isfile(os.path.join(family_dir, "config.gin")):
    files.write_text(os.path.join(family_dir, "config.gin"), unit.config)
  if not os.path.isfile(os.path.join(family_dir, IDENTITY_FILE)):
    files.write_json(os.path.join(family_dir, IDENTITY_FILE), {
        "kind": unit.kind, "env_id": unit.env_id, "method": unit.method, "source": unit.source,
        "deps": [d.family for d in unit.deps], "identity": unit.identity})


def in_dependency_order(units):
  """Every unit reachable from `units`, each once, each after its deps."""
  ordered, seen = [], set()

  def visit(unit):
    if unit in seen:
      return
    for dep in unit.deps:
      visit(dep)
    seen.add(unit)
    ordered.append(unit)

  for unit in units:
    visit(unit)
  return ordered
