"""Benchmarks behind bin/spam_bench: env step rates, collection, iterations, pipeline, scaling.

All figures are measured in the calling process (or in child processes it
starts and times); ratios compare rates measured back to back in one process,
so machine noise mostly cancels. Nothing here is asserted on: tests only run
it at a tiny size.
"""
import glob
import inspect
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time

import gin
import numpy as np

import spam_tf

from spam_tf import files
from spam_tf.rl import agents
from spam_tf.rl import collect
from spam_tf.rl import envs as envs_lib
from spam_tf.rl import policy as policy_lib
from spam_tf.rl import train

REPO = spam_tf.REPO_DIR


def raw_rounds(env_id, steps, seed=0):
  """Yields steps/s of one gymnasium env stepped `steps` times per round in a tight
  loop with pre-drawn random actions (the issue's "raw" rate)."""
  env = envs_lib.make(env_id)
  env.reset(seed=seed)
  env.action_space.seed(seed)
  while True:
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
      _, _, terminated, truncated, _ = env.step(action)
      if terminated or truncated:
        env.reset()
    yield steps / (time.perf_counter() - start)


def default_training_shape():
  """(num_envs, batch_steps) of train_eval as configured: gin bindings, else its defaults."""
  parameters = inspect.signature(train.train_eval).parameters

  def value(name):
    try:
      return gin.query_parameter(f"train_eval.{name}")
    except ValueError:
      return parameters[name].default
  return value("num_envs"), value("batch_steps")


def collect_rounds(env_id, num_envs, batch_steps, seed=0):
  """Yields steps/s of one training collection iteration per round: the training
  collector (complete episodes, stochastic numpy policy of a fresh agent)."""
  collector = collect.EpisodeCollector(env_id, num_envs)
  env = collector.envs[0]
  _, actor_net = agents.make_agent(envs_lib.observation_spec(env), envs_lib.action_spec(env))
  policy = policy_lib.from_network(actor_net, envs_lib.action_spec(env))
  rng = np.random.default_rng(seed)
  for iteration in itertools.count():
    start = time.perf_counter()
    episodes = collector.collect(lambda obs: policy.sample(obs, rng), batch_steps,
                                 collect.derive_seed(seed, iteration))
    yield sum(ep.length for ep in episodes) / (time.perf_counter() - start)


def collect_to_raw_ratio(env_id, num_envs, batch_steps, rounds):
  """Collector rate over raw rate, from `rounds` back-to-back pairs of rounds.

  On this VM the same loop's rate swings by 2x within seconds, so a raw round
  (batch_steps steps) and a collector iteration alternate, each pair gives a
  ratio, and the median pair is reported: pairs close in time see the same
  machine state. Which of the two runs first alternates too (the second of
  two back-to-back loops here tends to run at a different speed).
  Returns {"raw_steps_per_s", "collect_steps_per_s" (medians), "ratio" (median
  of the per-pair ratios), "ratio_quartiles", "raw_rounds", "collect_rounds"}.
  """
  raw, collector = raw_rounds(env_id, batch_steps), collect_rounds(env_id, num_envs, batch_steps)
  pairs = []
  for round_index in range(rounds):
    if round_index % 2 == 0:
      raw_rate = next(raw)
      collect_rate = next(collector)
    else:
      collect_rate = next(collector)
      raw_rate = next(raw)
    pairs.append((raw_rate, collect_rate))
  pairs = np.array(pairs)
  ratios = pairs[:, 1] / pairs[:, 0]
  return {"raw_steps_per_s": float(np.median(pairs[:, 0])),
          "collect_steps_per_s": float(np.median(pairs[:, 1])),
          "ratio": float(np.median(ratios)),
          "ratio_quartiles": [float(q) for q in np.percentile(ratios, [25, 75])],
          "raw_rounds": pairs[:, 0].tolist(), "collect_rounds": pairs[:, 1].tolist()}


def iteration_split(env_id, iterations, num_envs=None, batch_steps=None):
  """Mean seconds per iteration for collect / train / eval over iterations 2..N.

  The first iteration is left out: it includes tracing the train step (about
  1 s), which `seconds_to_first_iteration` reports instead.
  """
  overrides = {k: v for k, v in (("num_envs", num_envs), ("batch_steps", batch_steps)) if v}
  with tempfile.TemporaryDirectory() as tmp:
    result = train.train_eval(env_id, tmp, os.path.join(tmp, "logs"), seed=0,
                              iterations=iterations + 1, checkpoint_interval=10 ** 6, **overrides)
  steady = np.mean(result["iteration_seconds"][1:], axis=0)
  split = dict(zip(("collect", "train", "eval"), (float(x) for x in steady)))
  split["total"] = sum(split.values())
  split["train_share"] = split["train"] / split["total"]
  return split


class PeakMemory:
  """Samples the memory of a process and all its descendants (Linux /proc).

  peak_pss_bytes: peak of the summed PSS (proportional set size: shared pages,
    like TensorFlow's libraries mapped by every worker, counted once overall);
  peak_rss_bytes: peak RSS of the largest single process.
  """

  def __init__(self, pid, interval=0.2):
    self.pid, self.interval = pid, interval
    self.peak_pss_bytes = self.peak_rss_bytes = 0
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()

  def _tree(self):
    children = {}
    for entry in os.listdir("/proc"):
      if entry.isdigit():
        try:
          with open(f"/proc/{entry}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
          children.setdefault(ppid, []).append(int(entry))
        except (OSError, IndexError, ValueError):
          pass
    tree, stack = [], [self.pid]
    while stack:
      pid = stack.pop()
      tree.append(pid)
      stack.extend(children.get(pid, []))
    return tree

  @staticmethod
  def _memory(pid):
    """(pss, rss) in bytes from /proc/<pid>/smaps_rollup; zeros if the process is gone."""
    values = {}
    try:
      with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
          parts = line.split()
          if parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1]) * 1024
    except (OSError, IndexError, ValueError):
      pass
    return values.get("Pss:", 0), values.get("Rss:", 0)

  def _run(self):
    while not self._stop.is_set():
      memory = [self._memory(p) for p in self._tree()]
      self.peak_pss_bytes = max(self.peak_pss_bytes, sum(pss for pss, _ in memory))
      self.peak_rss_bytes = max([self.peak_rss_bytes] + [rss for _, rss in memory])
      self._stop.wait(self.interval)


def _cpu_jiffies():
  """(busy, total) jiffies of the whole machine since boot."""
  with open("/proc/stat") as f:
    fields = [int(x) for x in f.readline().split()[1:]]
  idle = fields[3] + fields[4]  # idle + iowait
  return sum(fields) - idle, sum(fields)


def run_command(args, env=None):
  """Runs a command; returns (wall seconds, PeakMemory, fraction of the machine's cores busy)."""
  start, (busy0, total0) = time.perf_counter(), _cpu_jiffies()
  proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
  with PeakMemory(proc.pid) as memory:
    _, err = proc.communicate()
  if proc.returncode:
    raise RuntimeError(f"{' '.join(args)} failed: {err.decode()[-500:]}")
  busy1, total1 = _cpu_jiffies()
  return time.perf_counter() - start, memory, (busy1 - busy0) / max(1, total1 - total0)


FIRST_ITERATION_SCRIPT = """
import sys, time, tempfile
sys.path.insert(0, {repo!r})
from spam_tf.rl import train
with tempfile.TemporaryDirectory() as tmp:
  result = train.train_eval({env_id!r}, tmp, tmp + '/logs', seed=0, iterations=1)
print(result['first_iteration_done'] - {start!r})
"""


def seconds_to_first_iteration(env_id):
  """Process start (python launched) to the end of the first training iteration."""
  start = time.time()
  out = subprocess.run([sys.executable, "-c", FIRST_ITERATION_SCRIPT.format(
      repo=REPO, env_id=env_id, start=start)], capture_output=True, text=True, check=True,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  return float(out.stdout.strip().splitlines()[-1])


def pipeline_run(source, target, seeds, gin_files, gin_bindings=(), workers=2):
  """Wall time and peak RSS of one bin/spam_main run in a fresh temporary root_dir."""
  with tempfile.TemporaryDirectory() as tmp:
    args = [sys.executable, os.path.join(REPO, "bin", "spam_main"), f"--source={source}",
            f"--target={target}", f"--root_dir={tmp}/run", f"--seeds={seeds}",
            f"--workers={workers}"]
    args += [f"--gin_file={g}" for g in gin_files] + [f"--gin_bindings={b}" for b in gin_bindings]
    seconds, memory, _ = run_command(args)
    summary = files.read_json(os.path.join(tmp, "run", "summary.json"))
  return {"seconds": seconds, "peak_pss_mib": memory.peak_pss_bytes / 2 ** 20,
          "peak_process_rss_mib": memory.peak_rss_bytes / 2 ** 20,
          "spam_iterations_to_convergence": summary["target_spam"]["iterations_to_convergence"],
          "scratch_iterations_to_convergence": summary["target_scratch"]["iterations_to_convergence"]}


def sweep_run(sweep_file, backend, workers, gin_files=()):
  """Wall time, peak PSS, busy cores and unit costs of one bin/spam_sweep run (fresh root)."""
  with tempfile.TemporaryDirectory() as tmp:
    args = [sys.executable, os.path.join(REPO, "bin", "spam_sweep"), f"--sweep={sweep_file}",
            f"--root_dir={tmp}/run", f"--backend={backend}", f"--workers={workers}"]
    args += [f"--gin_file={g}" for g in gin_files]
    seconds, memory, busy = run_command(args)
    costs = unit_costs(os.path.join(tmp, "run"))
  return {"backend": backend, "workers": workers, "seconds": seconds, "busy_fraction": busy,
          "peak_pss_mib": memory.peak_pss_bytes / 2 ** 20, "unit_costs": costs}


def unit_costs(root_dir):
  """Mean seconds of work (collect + train + eval; one core each) per unit of a sweep's
  root_dir, by kind and env: {"<kind> <env>": {"units": n, "mean_seconds": s}}."""
  seconds = {}
  for path in glob.glob(os.path.join(root_dir, "units", "*", "*", "**", "result.json"), recursive=True):
    kind, env_id = os.path.relpath(path, os.path.join(root_dir, "units")).split(os.sep)[:2]
    result = files.read_json(path)
    if "seconds" in result:  # training units (the autoencoder's fit is a second or two)
      seconds.setdefault(f"{kind} {env_id}", []).append(sum(result["seconds"].values()))
  return {key: {"units": len(v), "mean_seconds": float(np.mean(v))} for key, v in sorted(seconds.items())}
