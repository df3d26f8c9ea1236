"""What a unit's identity covers, so that a unit trained under other settings is never reused.

A unit's folder (spam_tf/running/units.py) is a hash of its kind, env, method, source,
its deps' identities, the gin bindings that reach it, and of this module's part:
  effective configuration  every parameter of every configurable the unit's code reads,
                           with the value it reads there (the binding in its gin scope,
                           else the code's default): a changed default changes it; gin
                           macros (%NAME) and constants as the values they stand for; and
                           the bindings of other packages' configurables (TF-Agents,
                           Keras) that the unit's config holds (their defaults are the
                           package's: its version covers them);
  versions                 of the packages that change numbers (PACKAGES);
  training code            TRAINING_CODE_VERSION, bumped with every change that alters
                           what training produces. tests/test_identity.py trains a golden
                           smoke run and fails when its numbers change while this stays.
So a rerun, a resume or --reuse_units_from never takes a unit trained under other
defaults, packages or training code; a change to the report, to bookkeeping, or a
restructuring that leaves every result bit-identical changes none of it.

Each unit family keeps its identity in identity.json (`describe`), so that a refusal
can say what differs (`differences`).
"""
import contextlib
import functools
import importlib.metadata
import inspect
import json
import re
import subprocess

import gin

import spam_tf
from spam_tf.running import units

TRAINING_CODE_VERSION = 1
# TensorFlow Probability holds the policies' distributions (the loss's log-probabilities),
# SciPy the weight matching behind the genome and zoo_mean starts.
PACKAGES = ("tensorflow", "tf-keras", "tensorflow-probability", "tf-agents", "gymnasium", "mujoco",
            "numpy", "scipy")

# The configurables each part of a unit's code reads.
READS = {
    "train": ("train_eval", "make_agent", "actor_network", "reinforce_agent", "ppo_agent"),
    "autoencoder": ("build_autoencoder", "train_autoencoder"),
    "genome": ("zoo", "build_genome_autoencoder", "train_genome"),
    "zoo": ("zoo", "train_genome"),
    "transfer": ("transfer",),
    "auto_map": ("auto_map",),  # only where transfer.observation_map = 'auto'
    "expert": (),
}
# Keyword arguments the code passes itself (gin's denylists): not settings.
_NOT_SETTINGS = {"start_fn", "label", "hparams", "record"}


def _configurables():
  """{gin name: function}: the project's configurables (imported here, not at module
  load: the running layer may build identities before TensorFlow is needed)."""
  from spam_tf.rl import agents, train  # pylint: disable=import-outside-toplevel
  from spam_tf.spam import auto_map, autoencoder, genome, transfer  # pylint: disable=import-outside-toplevel
  return {"train_eval": train.train_eval, "make_agent": agents.make_agent,
          "actor_network": agents.actor_network, "reinforce_agent": agents.reinforce_agent,
          "ppo_agent": agents.ppo_agent, "build_autoencoder": autoencoder.build_autoencoder,
          "train_autoencoder": autoencoder.train_autoencoder, "zoo": genome.zoo,
          "build_genome_autoencoder": genome.build_genome_autoencoder,
          "train_genome": genome.train_genome, "transfer": transfer.transfer,
          "auto_map": auto_map.auto_map}


def effective_config(parts):
  """{configurable: {parameter: value}} a unit sees: parts is [(part of READS, gin scope
  or None)], read from the gin config parsed now (defaults where nothing binds)."""
  functions, config = _configurables(), {}
  for part, scope in parts:
    for name in READS[part]:
      defaults = {p: v.default for p, v in inspect.signature(functions[name]).parameters.items()
                  if v.default is not inspect.Parameter.empty and p not in _NOT_SETTINGS}
      with (gin.config_scope(scope) if scope else contextlib.nullcontext()):
        bindings = {p: resolved(v) for p, v in gin.get_bindings(name, resolve_references=False).items()}
        config[f"{scope}/{name}" if scope else name] = {**defaults, **bindings}
  return dict(sorted(config.items()))


def resolved(value):
  """value with every gin macro (%NAME) and constant replaced by what it stands for, in
  lists, tuples and dicts too: `%LR` bound to 0.005 or to 0.007 are two settings. References
  to configurables (@name) stay as gin writes them: called or resolved, a repr could hold an
  address; their own bindings are sections of the config (a third-party one: `third_party`)."""
  if isinstance(value, gin.config.ConfigurableReference) and value.evaluate:
    name = "/".join(value.scopes)
    if value.configurable.selector == "gin.macro":
      return resolved(gin.query_parameter(f"{name}/gin.macro.value"))
    if value.configurable.selector == "gin.constant":
      return resolved(gin.query_parameter(name))
  if type(value) in (list, tuple):
    return type(value)(resolved(v) for v in value)
  if isinstance(value, dict):
    return {k: resolved(v) for k, v in value.items()}
  return value


def third_party(config_text):
  """{scope/configurable: its bindings, macros resolved} of every configurable of another
  package (TF-Agents, Keras, ...) that config_text (a unit's part of gin.config_str())
  binds: a unit's code reaches them through the networks and agents it builds."""
  found = {}
  for scope, name, _ in units.sections(config_text):
    if not name or gin.get_configurable(name).__module__.split(".")[0] == "spam_tf":
      continue
    selector = f"{scope}/{name}" if scope else name
    found[selector] = {p: resolved(v) for p, v in
                       gin.get_bindings(selector, resolve_references=False, inherit_scopes=False).items()}
  return found


def of_unit(kind, reads=None):
  """describe() for a unit of `kind` (expert, autoencoder, genome, target); a target from a
  source with what its start point `reads` (spam_tf.spam.start_points.reads)."""
  parts = {"expert": [("train", "source")], "autoencoder": [("autoencoder", None)],
           "genome": [("genome", None)], "target": [("train", "target")]}[kind]
  unit_reads = None
  if kind == "target" and reads is not None:
    parts, unit_reads = parts + [("transfer", "target"), (reads, None)], ("transfer", reads)
    with gin.config_scope("target"):  # the automatic map's settings, and only its units'
      if gin.get_bindings("transfer").get("observation_map") == "auto":
        parts.append(("auto_map", "target"))
  return describe(parts, third_party(units.config_for(kind, gin.config_str(), unit_reads)))


@functools.lru_cache(maxsize=None)
def _installed(package):
  return importlib.metadata.version(package)


def versions():
  """{package: version} of PACKAGES as installed."""
  return {package: _installed(package) for package in PACKAGES}


def describe(parts, other_bindings=None):
  """A unit's identity: {"effective_config", "versions", "training_code"}, as canonical
  JSON (a string: units are hashable). other_bindings: third_party()'s, beside the
  project's configurables (none: the identity of a unit before they counted)."""
  config = dict(sorted({**effective_config(parts), **(other_bindings or {})}.items()))
  return json.dumps({"effective_config": config, "versions": versions(),
                     "training_code": TRAINING_CODE_VERSION}, sort_keys=True, default=repr)


def differences(old, new):
  """What differs between two describe() results, as short phrases ('tensorflow 2.20.0 ->
  2.21.0', 'target/reinforce_agent.learning_rate 0.005 -> 0.007'); old may be None (a
  unit trained before identities covered these)."""
  if old is None:
    return ["it predates identities that cover defaults, package versions and training code"]
  old, new = json.loads(old), json.loads(new)
  found = [f"training code version {old['training_code']} -> {new['training_code']}"] \
      if old["training_code"] != new["training_code"] else []
  found += [f"{p} {old['versions'].get(p)} -> {v}" for p, v in new["versions"].items()
            if old["versions"].get(p) != v]
  for name in dict.fromkeys([*new["effective_config"], *old["effective_config"]]):
    before, after = old["effective_config"].get(name, {}), new["effective_config"].get(name, {})
    found += [f"{name}.{p} {before.get(p, 'unset')} -> {after.get(p, 'unset')}"
              for p in dict.fromkeys([*after, *before]) if before.get(p, "unset") != after.get(p, "unset")]
  return found


def binding_differences(old_text, new_text):
  """What differs between two configs as gin.config_str() writes them (a unit family's
  config.gin), as phrases ('source/train_eval.iterations 3 -> 5', 'a.b unset -> 1')."""
  def bindings(text):
    found, key = {}, None
    for line in text.splitlines():
      match = re.match(r"^([\w./]+) = (.*)$", line)
      if match:
        key, found[match.group(1)] = match.group(1), match.group(2).strip()
      elif key and line.strip() and not line.startswith("#"):  # a value continued on this line
        found[key] += " " + line.strip()
    return found
  old, new = bindings(old_text), bindings(new_text)
  return [f"{k} {old.get(k, 'unset')} -> {new.get(k, 'unset')}" for k in dict.fromkeys([*new, *old])
          if old.get(k) != new.get(k)]


def code_state():
  """{"commit": the checkout's HEAD or None, "dirty": whether the code differs from it}."""
  def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=spam_tf.REPO_DIR,
                          check=True).stdout.strip()
  try:
    return {"commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "spam_tf", "bin", "configs"))}
  except (OSError, subprocess.CalledProcessError):
    return {"commit": None, "dirty": None}


def worker_state(console_state):
  """What workers need besides the console's state: the code they run, recorded in every
  result.json they write ({"code": code_state()})."""
  return {**console_state, "code": code_state()}
