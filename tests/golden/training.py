"""The golden run behind TRAINING_CODE_VERSION (tests/test_identity.py): what it trains,
what it computes directly, and the exact digests it compares.

Every number a unit writes (its result.json but for timings and bookkeeping, every array
of every .npz, its transfer.json and sparsity.json) is kept as a sha256 of its bytes
(`digest`): the run is bit-deterministic (one TF thread, op determinism, seeded
everything), so any change to what training produces changes a digest.
"""
import glob
import hashlib
import json
import os
import platform
import subprocess
import sys

import gin
import numpy as np

import spam_tf  # the code under test: the checkout first on sys.path (a copy's, in golden_run_of)
from spam_tf.rl import agents
from spam_tf.rl import checkpoints
from spam_tf.rl import collect
from spam_tf.rl import envs as envs_lib
from spam_tf.running import sweep

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "training_code.json")
# Every kind of unit and every part of training at the smallest size: f1, g, a zoo and
# its genome autoencoder; f2 from scratch and from every start point (the CartPole ->
# pendulum head transfer), with an observation map, with PPO; the automatic map (probed,
# and below its floor: the fresh initialisation's episodes head iteration 1); a Gaussian
# -> categorical head (pendulum -> CartPole); a 3-action head with the value baseline
# (Acrobot); and the learning-rate schedule past its decay, in a unit interrupted after a
# checkpoint and resumed (RESUMED).
GOLDEN_SWEEP = """
sweep.experiments = [
    {'name': 'golden', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin']},
    {'name': 'golden_mapped', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin', 'configs/map_cartpole_to_pendulum.gin'], 'methods': ['spam']},
    {'name': 'golden_ppo', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin', 'configs/f2_ppo.gin'], 'methods': ['spam']},
    {'name': 'golden_auto', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin', 'configs/auto_map.gin'], 'methods': ['spam']},
    {'name': 'golden_auto_nothing', 'source': 'CartPole-v1', 'target': 'InvertedPendulum-v4',
     'gin_files': ['configs/paper_4_2_transfer.gin', 'configs/auto_map.gin'], 'methods': ['spam'],
     'gin_bindings': ['auto_map.probe_floor = 1.01']},
    {'name': 'golden_from_pendulum', 'source': 'InvertedPendulum-v4', 'target': 'CartPole-v1',
     'gin_files': ['configs/paper_4_2_transfer.gin'], 'methods': ['spam']},
    {'name': 'golden_value_baseline', 'source': 'CartPole-v1', 'target': 'Acrobot-v1',
     'gin_files': ['configs/paper_4_1_compression.gin'], 'methods': ['spam'],
     'gin_bindings': ['target/reinforce_agent.value_baseline = True',
                      'target/reinforce_agent.time_baseline = False']},
    {'name': 'golden_schedule', 'source': 'CartPole-v1', 'target': 'CartPole-v1',
     'gin_files': ['configs/paper_4_2_transfer.gin'], 'methods': ['scratch'],
     'gin_bindings': ['target/train_eval.iterations = 4',
                      'target/reinforce_agent.learning_rate_decay_steps = 2']},
]
sweep.methods = ['scratch', 'spam', 'copy', 'prune', 'relu', 'relu_prune', 'noise', 'zoo_mean', 'genome_mean']
sweep.seeds = 1
sweep.gin_bindings = ['train_eval.iterations = 2', 'train_eval.batch_steps = 150', 'train_eval.num_envs = 2',
                      'train_eval.eval_episodes = 1', 'train_eval.checkpoint_interval = 1',
                      'train_eval.weight_snapshots = (1,)', 'train_autoencoder.epochs = 5',
                      'zoo.size = 2', 'train_genome.epochs = 5', 'train_genome.patience = 2',
                      'ppo_agent.num_epochs = 2']
"""
# The unit of golden_schedule (the only scratch target on CartPole) is interrupted right
# after its checkpoint of iteration 2 and resumed: its last 2 gradient steps, past the
# decay of 2, run on the optimizer's restored step count.
RESUMED = ("target/CartPole-v1/scratch/", 2)
# result.json fields that are not numbers of training: timings, the code and node that
# ran it, whether it was resumed (the resumed unit asserts its own).
BOOKKEEPING = {"seconds", "iteration_seconds", "first_iteration_done", "code", "node", "resumed_from"}
UNIT_JSON = ("result.json", "transfer.json", "sparsity.json")


def digest(value):
  """sha256 of a number or a (nested) list of numbers as float64 bytes with its shape, of
  an array as its dtype, shape and bytes, of anything else as canonical JSON."""
  if _numbers(value):
    try:
      value = np.asarray(value, np.float64)
    except ValueError:  # ragged: its JSON
      pass
  if isinstance(value, np.ndarray):
    data = f"{value.dtype.str}{value.shape}".encode() + np.ascontiguousarray(value).tobytes()
  else:
    data = json.dumps(value, sort_keys=True).encode()
  return hashlib.sha256(data).hexdigest()


APPROXIMATE = "~"  # a key's suffix for its sum and norm: what another machine is compared on


def approximation(value):
  """[sum, norm] of a number, list or array of numbers as float64 (None for anything else):
  another CPU gives other last bits, never other sums and norms to 1e-4."""
  if isinstance(value, np.ndarray) or _numbers(value):
    try:
      array = np.asarray(value, np.float64)
    except ValueError:  # ragged
      return None
    return [float(np.sum(array)), float(np.linalg.norm(array))]
  return None


def _numbers(value):
  """Whether value is a number or a (nested) list of numbers (None and booleans are not)."""
  if isinstance(value, (list, tuple)):
    return all(_numbers(v) for v in value)
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def unit_numbers(run_dir):
  """{file:key: digest} of one unit's seed folder (module doc)."""
  values = {}
  for name in UNIT_JSON:
    path = os.path.join(run_dir, name)
    if os.path.isfile(path):
      with open(path) as f:
        values.update({f"{name}:{k}": v for k, v in json.load(f).items() if k not in BOOKKEEPING})
  for npz in sorted(glob.glob(os.path.join(run_dir, "*.npz"))):
    with np.load(npz) as saved:
      values.update({f"{os.path.basename(npz)}:{k}": saved[k] for k in saved.files})
  numbers = {key: digest(value) for key, value in values.items()}
  numbers.update({key + APPROXIMATE: approximation(value) for key, value in values.items()
                  if approximation(value) is not None})
  return numbers


def golden_run(root, experiments=None, direct=True):
  """Trains GOLDEN_SWEEP in this process (None: every experiment; else those named, maybe
  none), RESUMED interrupted and resumed; {unit label/bindings/seed: unit_numbers}, and
  direct_numbers() if `direct`."""
  if experiments is None or experiments:
    sweep_file = os.path.join(root, "golden.gin")
    with open(sweep_file, "w") as f:
      f.write(GOLDEN_SWEEP)
    cwd = os.getcwd()
    os.chdir(spam_tf.REPO_DIR)  # the sweep names configs/ relative to the code's checkout
    try:
      _sweep_interrupted_and_resumed(sweep_file, os.path.join(root, "run"), experiments or ())
    finally:
      os.chdir(cwd)
      gin.clear_config()
  numbers = {}
  units_root = os.path.join(root, "run", "units")
  for result_path in sorted(glob.glob(os.path.join(units_root, "**", "result.json"), recursive=True)):
    run_dir = os.path.dirname(result_path)
    family, seed = os.path.split(os.path.relpath(run_dir, units_root))
    with open(os.path.join(os.path.dirname(run_dir), "config.gin")) as f:
      bindings = f.read()
    # Keyed by label, bindings and seed (not the folder's hash: it holds package versions).
    numbers[f"{os.path.dirname(family)}/{hashlib.sha256(bindings.encode()).hexdigest()[:8]}/{seed}"] = \
        unit_numbers(run_dir)
  if direct:
    numbers.update(direct_numbers())
  return numbers


_DRIVER = """
import importlib.util, json, sys
code, module, root, out, experiments, direct = sys.argv[1:]
sys.path.insert(0, code)
import spam_tf
assert spam_tf.__file__.startswith(code), spam_tf.__file__
spec = importlib.util.spec_from_file_location("golden_training", module)
training = importlib.util.module_from_spec(spec)
spec.loader.exec_module(training)
with open(out, "w") as f:
  json.dump(training.golden_run(root, json.loads(experiments), direct=direct == "direct"), f)
"""


def golden_run_of(code, root, experiments, direct):
  """golden_run() of the checkout in `code` (e.g. a copy with an edit), in a process of its own."""
  os.makedirs(root, exist_ok=True)
  out = os.path.join(root, "numbers.json")
  proc = subprocess.run([sys.executable, "-c", _DRIVER, code, os.path.abspath(__file__), root, out,
                         json.dumps(experiments), "direct" if direct else "-"],
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out) as f:
    return json.load(f)


class _Interrupted(BaseException):
  """Stops a sweep as a kill would, right after a checkpoint (not an Exception: the worker
  would wrap it)."""


def _sweep_interrupted_and_resumed(sweep_file, root_dir, experiments):
  """Runs the sweep; when it reaches RESUMED's checkpoint it stops there, and runs again:
  every finished unit is kept, RESUMED resumes from that checkpoint."""
  label, iteration = RESUMED
  save, interrupted = checkpoints.Checkpoints.save, []

  def save_then_stop(self, at, history):
    save(self, at, history)
    if at == iteration and label in self.dir and not interrupted:
      interrupted.append(self.dir)
      raise _Interrupted(self.dir)

  checkpoints.Checkpoints.save = save_then_stop
  try:
    sweep.run_sweep(sweep_file, root_dir, backend="inprocess", experiment_patterns=list(experiments))
  except _Interrupted:
    pass
  finally:
    checkpoints.Checkpoints.save = save
  if interrupted:
    sweep.run_sweep(sweep_file, root_dir, backend="inprocess", experiment_patterns=list(experiments))
    with open(os.path.join(os.path.dirname(interrupted[0]), "result.json")) as f:
      assert json.load(f)["resumed_from"] == [iteration], "the golden's resumed unit did not resume"


def direct_numbers():
  """Numbers training depends on at sizes the sweep never reaches, computed directly:
  the envs that start at the paper's batch (5000 steps, 8 or 64 envs) over a grid of mean
  episode lengths; two paper-size batches of random CartPole episodes (starting as many
  envs as a mean length of 22 and of 900 says); and the default learning rate at each of
  130 gradient steps (the decay takes 100)."""
  lengths = np.round(np.geomspace(1.0, 10000.0, 121), 2)
  numbers = {"start_envs": digest([[collect.start_envs(5000, length, n) for length in lengths] for n in (8, 64)])}
  for mean_length in (22, 900):
    collector = collect.EpisodeCollector("CartPole-v1", 8)
    act = collect.random_actions(envs_lib.action_spec(collector.envs[0]), np.random.default_rng(0))
    episodes = collector.collect(act, 5000, collect.derive_seed(0, 0, 1), collect.start_envs(5000, mean_length, 8))
    collector.close()
    numbers[f"batch_5000_mean_length_{mean_length}"] = digest(np.concatenate(
        [np.float64([ep.env_index, ep.length, ep.total_return]) for ep in episodes]
        + [ep.observations.ravel().astype(np.float64) for ep in episodes]))
  gin.clear_config()  # the code's defaults
  env = envs_lib.make("CartPole-v1")
  agent, actor = agents.make_agent(envs_lib.observation_spec(env), envs_lib.action_spec(env))
  env.close()
  optimizer, variables = agent._optimizer, actor.trainable_variables  # pylint: disable=protected-access
  rates = []
  for _ in range(130):  # zero gradients: Adam steps its count and learning rate, moves nothing
    optimizer.apply_gradients([(0.0 * v, v) for v in variables])
    rates.append(float(optimizer.learning_rate.numpy()))
  numbers["learning_rate_schedule"] = digest(rates)
  return {"direct/paper_sizes": numbers}


def mismatches(now, golden, subset=False, approximate=False):
  """Where golden_run() results differ from the golden's: ['unit: key', ...] (subset: only
  the units `now` has, each of which the golden must have). approximate: for a golden made
  on another machine, only the sums and norms (keys ending APPROXIMATE), to rtol 1e-4."""
  names = set(now) if subset else set(now) | set(golden)
  found = [f"{unit}: not in {'the golden' if unit not in golden else 'this run'}" for unit in sorted(names)
           if unit not in golden or unit not in now]
  for unit in sorted(names & set(golden) & set(now)):
    keys = sorted(set(golden[unit]) | set(now[unit]))
    if approximate:
      found += [f"{unit}: {key}" for key in keys if key.endswith(APPROXIMATE) and not (
          key in golden[unit] and key in now[unit]
          and np.allclose(now[unit][key], golden[unit][key], rtol=1e-4, atol=1e-6))]
    else:
      found += [f"{unit}: {key}" for key in keys if golden[unit].get(key) != now[unit].get(key)]
  return found


def machine():
  """What besides the code and the packages decides the last bits of the numbers: the CPU
  (TensorFlow's oneDNN and MuJoCo choose kernels by its instruction sets) and oneDNN's
  switch. The same code gives other bits where these differ (seen: InvertedPendulum
  targets' losses and weights in the last places)."""
  cpu = {"model name": platform.processor() or platform.machine(), "flags": ""}
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() in cpu and value.strip():
          cpu[key.strip()] = value.strip()
        if key.strip() == "flags":
          break
  except OSError:
    pass
  try:  # on by default on x86 Linux, TF_ENABLE_ONEDNN_OPTS=0 turns it off: TensorFlow's own answer
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=import-outside-toplevel
    onednn = bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
  return {"cpu": cpu["model name"], "cpu_flags": hashlib.sha256(cpu["flags"].encode()).hexdigest()[:12],
          "onednn": onednn}


def regeneration_refusal(old, numbers, version, versions, this_machine):
  """Why the golden `old` (its file's dict, or None) may not be rewritten with `numbers`
  (golden_run's), or None: a unit in both with other numbers under the same training code
  version, package versions and machine (new units, new keys, a bumped version, new pins,
  another machine: allowed)."""
  if old is None or (old.get("training_code_version"), old.get("versions"), old.get("machine")) != (
      version, versions, this_machine):
    return None
  changed = [f"{unit}: {key}" for unit, entry in old["units"].items() if unit in numbers
             for key, value in entry.items() if key in numbers[unit] and numbers[unit][key] != value]
  if not changed:
    return None
  return (f"training now gives other numbers than TRAINING_CODE_VERSION {version} did, in "
          f"{len(changed)} places ({'; '.join(changed[:3])}): bump TRAINING_CODE_VERSION in "
          "spam_tf/running/identity.py, then rewrite the golden (or undo the change)")


def write_golden(numbers, version, versions, path=GOLDEN, this_machine=None):
  """Rewrites the golden file with numbers, or exits 1 with regeneration_refusal's line.
  this_machine: machine() unless given."""
  this_machine = this_machine or machine()
  old = None
  if os.path.isfile(path):
    with open(path) as f:
      old = json.load(f)
  refusal = regeneration_refusal(old, numbers, version, versions, this_machine)
  if refusal:
    print(f"error: {refusal}", file=sys.stderr)
    sys.exit(1)
  with open(path, "w") as f:
    json.dump({"training_code_version": version, "versions": versions, "machine": this_machine,
               "units": numbers}, f, indent=1, sort_keys=True)
    f.write("\n")
  print(f"wrote {path}")
