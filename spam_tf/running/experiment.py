"""One experiment of Algorithm 1 and its plan: the units it needs.

An experiment is (source, target, gin config, methods, seeds). Per seed s (every
unit of a seed uses seed s, so all target runs see the same environment seeds
and the same fresh initialisation), as units of spam_tf/running/units.py:
  expert       M* = f1(S)                            (gin scope 'source')
  autoencoder  g trained on w(M*), W_SPAM = g(w(M*))
  genome       the genome autoencoder on a zoo of other source experts, and
               the genome start points of M* (spam_tf/spam/genome.py)
  target       M_TL = f2(T, start point of a method) (gin scope 'target')
with the methods of spam_tf/spam/start_points.py. `plan` checks an experiment
and builds its units without writing anything; spam_tf/running/worker.py runs
them, spam_tf/running/summary.py sums them up.
"""
import dataclasses
import glob
import os
from typing import Optional, Tuple

import gin
import numpy as np

from spam_tf import files
from spam_tf.rl import agents
from spam_tf.rl import criteria
from spam_tf.rl import envs as envs_lib
from spam_tf.rl import snapshots
from spam_tf.rl import train
from spam_tf.rl import weights as weights_lib
from spam_tf.running import identity
from spam_tf.running import units as units_lib
from spam_tf.spam import auto_map
from spam_tf.spam import autoencoder  # noqa: F401  (registers its configurables, which configs bind)
from spam_tf.spam import genome as genome_lib
from spam_tf.spam import start_points
from spam_tf.spam import transfer
from spam_tf.terminal.console import first_line

METHODS = tuple(start_points.METHODS)
DEFAULT_METHODS = start_points.DEFAULT_METHODS
# bin/spam_main's (and `make run`'s) default: SPAM, scratch and the control without an
# autoencoder its primary comparison names, so the default run stays within 10 minutes.
MAIN_METHODS = ("scratch", "spam", "relu_prune")
# The control without an autoencoder that SPAM's primary comparison names when an
# experiment declares none: the first of these it runs (relu_prune has SPAM's zeros
# without its autoencoder, so it asks most directly whether the compression adds anything).
PRIMARY_CONTROLS = ("relu_prune", "relu", "prune", "noise", "copy", "zoo_mean")


class ExperimentError(ValueError):
  """Bad input or state that the user can fix (message is one line)."""


@dataclasses.dataclass(frozen=True)
class Experiment:
  name: str
  source: str
  target: str
  gin_files: Tuple[str, ...] = ()
  gin_bindings: Tuple[str, ...] = ()
  methods: Optional[Tuple[str, ...]] = None  # None: the sweep's
  source_expert_dir: Optional[str] = None    # reuse the experts of another root_dir
  # The comparisons that carry verdicts, declared before the run: ((method, reference), ...),
  # a reference a method of this experiment or "<other experiment>/<method>". None: the
  # default (default_primary).
  primary: Optional[Tuple[Tuple[str, str], ...]] = None

  @property
  def about(self):
    """How a message about this experiment opens: its name, in a sweep; nothing for
    bin/spam_main's one experiment (sweep.run_single names it "main"; its user named none)."""
    return "" if self.name == "main" else f"{self.name}: "


@dataclasses.dataclass
class Plan:
  """An experiment's units. experts/autoencoders/genomes: {seed: Unit}; targets:
  {(method, seed): Unit}; zoo: the experts the genome units learn from (and zoo_mean
  averages)."""
  experiment: Experiment
  seeds: list
  methods: list
  config: str
  experts: dict
  autoencoders: dict
  targets: dict
  iterations: dict  # unit kind -> training iterations (for the progress display)
  genomes: dict = dataclasses.field(default_factory=dict)
  zoo: list = dataclasses.field(default_factory=list)
  criteria: dict = dataclasses.field(default_factory=dict)  # {env id: success criterion}
  criteria_named: tuple = ()  # the env ids gin's success_criterion.returns names

  def units(self):
    return [*self.experts.values(), *self.zoo, *self.autoencoders.values(), *self.genomes.values(),
            *self.targets.values()]


def parse_gin(gin_files, gin_bindings):
  """Parses configs; raises ExperimentError with a one-line reason on failure."""
  gin.clear_config()
  for path in gin_files:
    if not os.path.isfile(path):
      raise ExperimentError(f"config file not found: {path}")
  try:
    gin.parse_config_files_and_bindings(gin_files, gin_bindings)
  except Exception as e:  # pylint: disable=broad-except  (gin raises many types; all mean "bad config")
    raise ExperimentError(f"bad config: {first_line(e)}") from None


def check_methods(methods, allow_empty=False):
  """Raises ExperimentError for an unknown method, or an empty list unless allowed
  (an experiment that only trains experts, e.g. the paper's Figure 3)."""
  unknown = [m for m in methods if m not in start_points.METHODS]
  if unknown:
    raise ExperimentError(f"unknown start-point method(s) {unknown}; "
                          f"choose from {', '.join(start_points.METHODS)}")
  if not methods and not allow_empty:
    raise ExperimentError("--methods is empty")


def default_primary(methods):
  """SPAM against scratch and against the first of PRIMARY_CONTROLS the experiment runs
  (each only where both ran); none without SPAM. methods: [names] -> [(method, reference)]."""
  if "spam" not in methods:
    return []
  controls = [c for c in PRIMARY_CONTROLS if c in methods][:1]
  return [("spam", reference) for reference in ["scratch"] * ("scratch" in methods) + controls]


def primary_comparisons(experiment, methods, experiment_names=None):
  """The experiment's primary comparisons [(method, reference)], checked: each method and
  each reference one this experiment runs, or "<experiment>/<method>" naming an experiment
  of experiment_names (the sweep file's; None: not checked); no comparison with itself and
  none twice. Raises ExperimentError."""
  declared = default_primary(methods) if experiment.primary is None else experiment.primary
  found = []
  for entry in declared:
    if isinstance(entry, str) or len(entry) != 2 or not all(isinstance(x, str) for x in entry):
      raise ExperimentError(f"{experiment.about}a primary comparison is (method, reference), got {entry!r}")
    method, reference = entry
    other, _, other_method = reference.rpartition("/")
    if method not in methods or (not other and reference not in methods):
      raise ExperimentError(f"{experiment.about}primary comparison {method} vs {reference} names a method "
                            f"this experiment does not run ({', '.join(methods)})")
    if other and experiment_names is not None and other not in experiment_names:
      raise ExperimentError(f"{experiment.about}primary comparison {method} vs {reference}: no experiment "
                            f"{other!r} in this sweep")
    if (other in ("", experiment.name) and (other_method or reference) == method) or (method, reference) in found:
      raise ExperimentError(f"{experiment.about}primary comparison {method} vs {reference} is a comparison "
                            "with itself or declared twice")
    found.append((method, reference))
  return found


def plan(experiment, seeds, methods, gin_files=(), gin_bindings=()):
  """Checks an experiment and builds its units (nothing is written)."""
  methods = list(experiment.methods if experiment.methods is not None else methods)
  check_methods(methods, allow_empty=experiment.methods is not None)
  primary_comparisons(experiment, methods)
  for env_id in (experiment.source, experiment.target):
    envs_lib.make(env_id).close()
  parse_gin([*experiment.gin_files, *gin_files], [*experiment.gin_bindings, *gin_bindings])
  for scope in ("source", "target"):
    train.check_config(scope)
  task_criteria = _criteria(experiment)
  external = {s: _check_expert_dir(experiment.source_expert_dir, s, experiment.source, identity.of_unit("expert"))
              for s in seeds} if experiment.source_expert_dir else {}
  if set(methods) - {"scratch"}:
    check_transfer(experiment.source, experiment.target,
                   {s: files.read_json(os.path.join(d, files.RESULT_FILE)) for s, d in external.items()})
  text = gin.config_str()
  iterations = {"expert": train.configured("source")["iterations"], "autoencoder": 0, "genome": 0,
                "target": train.configured("target")["iterations"]}
  result = Plan(experiment, list(seeds), methods, text, {}, {}, {}, iterations, criteria=task_criteria,
                criteria_named=tuple(gin.get_bindings("success_criterion").get("returns") or ()))
  if any(start_points.reads(m) in ("genome", "zoo") for m in methods):
    result.zoo = _zoo_units(experiment, seeds, text)
  for s in seeds:
    expert = units_lib.Unit("expert", experiment.source, s, units_lib.config_for("expert", text),
                            external_dir=external.get(s), identity=identity.of_unit("expert"))
    result.experts[s] = expert
    helpers = _helper_units(experiment, s, methods, text, expert, result.zoo)
    if "autoencoder" in helpers:
      result.autoencoders[s] = helpers["autoencoder"]
    if "genome" in helpers:
      result.genomes[s] = helpers["genome"]
    for method in methods:
      result.targets[(method, s)] = _target_unit(experiment, s, method, text, expert, helpers, result.zoo)
  return result


def _criteria(experiment):
  """{env id: success criterion, or None} of the source and the target
  (spam_tf/rl/criteria.py). A task with none needs none as a source (nothing judges the
  expert by it); as a target its runs are judged by the fallback threshold
  (spam_tf/running/summary.py), and criteria_notes says so."""
  found = {}
  for env_id in (experiment.source, experiment.target):
    try:
      found[env_id] = criteria.success_criterion(env_id)
    except criteria.CriterionError:
      found[env_id] = None
  return found


def criteria_notes(plans):
  """One-line notes for the terminal: a target without a success criterion (judged by the
  fallback threshold), and success_criterion.returns naming a task no planned experiment
  runs (a mistyped id leaves its task on gymnasium's threshold). Not errors: one gin file
  may state the criteria of more tasks than one run uses."""
  targets = sorted({p.experiment.target for p in plans if p.criteria[p.experiment.target] is None})
  notes = [f"note: {env_id} has no success criterion (no reward_threshold in gymnasium): its runs are judged "
           "by the fallback threshold, the median over the experiment's runs of their mean return over the last "
           f"10 iterations; set one with --gin_bindings=\"success_criterion.returns={{'{env_id}': <return>}}\""
           for env_id in targets]
  tasks = {env_id for p in plans for env_id in p.criteria}
  unused = sorted({name for p in plans for name in p.criteria_named} - tasks)
  if unused:
    used = {env_id: c for p in plans for env_id, c in p.criteria.items() if c is not None}
    notes.append(f"note: success_criterion.returns names {', '.join(unused)}, which no experiment here runs; "
                 "the criteria used: " + ", ".join(f"{env_id} {c:g}" for env_id, c in sorted(used.items())))
  return notes


def _zoo_units(experiment, seeds, config_text):
  """The source experts a genome autoencoder learns from and zoo_mean averages: (train,
  held out) seeds of gin's zoo(), none of them an experiment seed (every experiment's M*
  stays unseen)."""
  genome_lib.check_config()
  train_seeds, held_out_seeds = genome_lib.zoo()
  overlap = sorted(set(train_seeds + held_out_seeds) & set(seeds))
  if overlap:
    raise ExperimentError(f"{experiment.about}zoo seeds {overlap} are also experiment seeds "
                          f"(an M* would be in the zoo): raise zoo.first_seed")
  return [units_lib.Unit("expert", experiment.source, s, units_lib.config_for("expert", config_text),
                         identity=identity.of_unit("expert")) for s in train_seeds + held_out_seeds]


def _helper_units(experiment, seed, methods, config_text, expert, zoo):
  """{'autoencoder' / 'genome': Unit}: the units this seed's start points read besides M*
  (zoo_mean reads the zoo's experts directly)."""
  helpers = {}
  for kind in sorted({start_points.reads(m) for m in methods} - {None, "expert", "zoo"}):
    deps = (expert,) if kind == "autoencoder" else (expert, *zoo)
    helpers[kind] = units_lib.Unit(kind, experiment.source, seed, units_lib.config_for(kind, config_text),
                                   deps=deps, identity=identity.of_unit(kind))
  return helpers


def _target_unit(experiment, seed, method, config_text, expert, helpers, zoo):
  reads = start_points.reads(method)
  if reads is None:  # scratch, no source: one run serves every experiment with this target and f2
    return units_lib.Unit("target", experiment.target, seed, units_lib.config_for("target", config_text),
                          method=method, identity=identity.of_unit("target"))
  deps = {"expert": (expert,), "zoo": (expert, *zoo)}.get(reads) or (expert, helpers.get(reads))
  return units_lib.Unit("target", experiment.target, seed,
                        units_lib.config_for("target", config_text, reads=("transfer", reads)),
                        method=method, source=experiment.source, deps=deps,
                        identity=identity.of_unit("target", reads))


def _check_expert_dir(expert_root, seed, source, expert_identity):
  """The one finished expert of `seed` on `source` under another run's root_dir, trained
  with the identity an expert would have here (spam_tf/running/identity.py)."""
  found = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(
      expert_root, "units", "expert", source, "*", f"seed_{seed}", files.RESULT_FILE)))
  if not found:
    raise ExperimentError(f"no finished source expert for seed {seed} on {source} under {expert_root}")
  if len(found) > 1:
    raise ExperimentError(f"{len(found)} experts for seed {seed} on {source} under {expert_root} "
                          f"(several configs); pass the root of a run with one")
  path = found[0]
  try:
    result = files.read_json(os.path.join(path, files.RESULT_FILE))
    weights_lib.unflatten(snapshots.load(path, "final"), result["weight_shapes"])
  except Exception as e:  # pylint: disable=broad-except  (json, zip, npz, key or shape trouble)
    raise ExperimentError(f"corrupt source expert at {path}: {first_line(e)}") from None
  differences = _settings_differences(os.path.dirname(path), seed, source, expert_identity)
  if differences:
    raise ExperimentError(f"the source expert at {path} was trained under other settings "
                          f"({'; '.join(differences[:3])}): train the experts here instead")
  return path


def _settings_differences(family_dir, seed, source, expert_identity):
  """What differs between the expert family in family_dir and the one this run would make:
  its identity (identity.json), else the bindings that reach it (config.gin: its folder's
  hash covers them), else that hash itself; [] when it is this run's."""
  recorded = os.path.join(family_dir, units_lib.IDENTITY_FILE)
  differences = identity.differences(files.read_json(recorded)["identity"] if os.path.isfile(recorded) else None,
                                     expert_identity)
  config = units_lib.config_for("expert", gin.config_str())
  expected = os.path.basename(units_lib.Unit("expert", source, seed, config, identity=expert_identity).family)
  found = os.path.basename(family_dir)
  if differences or found == expected:
    return differences
  config_path = os.path.join(family_dir, "config.gin")
  if not os.path.isfile(config_path):
    return [f"its folder {found} has no config.gin"]
  with open(config_path) as f:
    return (identity.binding_differences(f.read(), config)
            or [f"its folder's hash {found} is not this run's {expected}"])


def check_transfer(source, target, expert_results):
  """Transfers fresh source-shaped weights into a fresh target network, before any
  training: a strategy or architecture that cannot fit fails now, not after hours
  of expert training. expert_results: {seed: result.json} of reused experts, or {}
  (then the source network comes from the gin config, scope 'source')."""
  def fresh(env_id, scope):
    env = envs_lib.make(env_id)
    obs_spec, act_spec = envs_lib.observation_spec(env), envs_lib.action_spec(env)
    env.close()
    with gin.config_scope(scope):
      _, net = agents.make_agent(obs_spec, act_spec)
    return weights_lib.get(net), bool(np.issubdtype(act_spec.dtype, np.integer))

  target_arrays, target_discrete = fresh(target, "target")
  if expert_results:
    sources = [([np.zeros(shape, np.float32) for shape in r["weight_shapes"]], r["discrete"])
               for r in expert_results.values()]
  else:
    sources = [fresh(source, "source")]
  for source_arrays, source_discrete in sources:
    with gin.config_scope("target"):  # as in the worker, where f2 calls it
      maps = ({"observation_map": None} if auto_map.requested() or auto_map.requested("twin")
              else {})  # chosen in the unit
      transfer.transfer(source_arrays, source_discrete, target_arrays, target_discrete, **maps)
