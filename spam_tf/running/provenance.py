"""What made a root_dir's results: the command, the commit, the machine, the wall time.

`collect` is taken once per invocation (bin/spam_sweep, bin/spam_main) and lands
in summary.json's "provenance"; `InvocationClock` keeps invocations.json, every
invocation of a root with its wall time so far, so a sweep finished over several
invocations (killed, resumed) can state its whole wall time.
"""
import os
import subprocess
import sys
import time

import numpy as np

import spam_tf

from spam_tf import files
from spam_tf.running import bench


def collect(env_ids):
  """What made these results: command, commit, date, cores, the envs' raw step rates now."""
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=spam_tf.PACKAGE_DIR, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    commit = None
  rates = {}
  for env_id in sorted(env_ids):  # median of 3 rounds of 2000 random steps: about a second
    rounds = bench.raw_rounds(env_id, 2000)
    rates[env_id] = float(np.median([next(rounds) for _ in range(3)]))
  return {"command": " ".join(sys.argv), "commit": commit,
          "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "started_unix": time.time(),
          "cores": len(os.sched_getaffinity(0)), "raw_env_steps_per_second": rates}


class InvocationClock:
  """Keeps <root_dir>/invocations.json: every invocation of a root with its wall time so
  far, rewritten at most every `interval` seconds, so that a sweep finished over several
  invocations (killed, resumed) can state its whole wall time (a killed one loses at
  most `interval` seconds)."""
  FILE = "invocations.json"

  def __init__(self, root_dir, provenance, interval=30.0):
    self.path, self.interval = os.path.join(root_dir, self.FILE), interval
    self.invocations = files.read_json(self.path) if os.path.exists(self.path) else []
    self.entry = {key: provenance[key] for key in ("date", "commit", "command", "started_unix",
                                                   "units_reused_from", "stale_units_accepted")}
    self.entry["seconds"] = 0.0
    self.invocations.append(self.entry)
    self.last = 0.0
    self.tick(force=True)

  def tick(self, force=False):
    now = time.time()
    if force or now - self.last >= self.interval:
      self.entry["seconds"] = now - self.entry["started_unix"]
      files.write_json(self.path, self.invocations, durable=False)
      self.last = now
    return self.invocations
