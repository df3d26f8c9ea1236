"""The actor weight vectors a stage keeps in run_dir/policy_weights.npz.

'start' (the start point, before any training), 'iteration_<k>' (after
iteration k, for the kept iterations) and 'final'; each a float32 vector [d]
in spam_tf.rl.weights order. The sparsity ratio along f2 and the genome's zoo
read them.
"""
import os

import numpy as np

from spam_tf import files

WEIGHTS_FILE = "policy_weights.npz"


def save(run_dir, **vectors):
  """Adds (or replaces) named weight vectors in run_dir/policy_weights.npz."""
  path = os.path.join(run_dir, WEIGHTS_FILE)
  saved = {}
  if os.path.exists(path):
    with np.load(path) as old:
      saved = {name: old[name] for name in old.files}
  files.write_npz(path, **{**saved, **vectors})


def load(run_dir, which="final"):
  """The stage's 'start' or 'final' actor weight vector [d]."""
  with np.load(os.path.join(run_dir, WEIGHTS_FILE)) as saved:
    return saved[which]


def along_training(run_dir):
  """{iteration: actor weight vector [d]}: the start (0), the kept snapshots and the
  final weights (at the finished run's last iteration)."""
  iterations = files.read_json(os.path.join(run_dir, files.RESULT_FILE))["iterations"]
  with np.load(os.path.join(run_dir, WEIGHTS_FILE)) as saved:
    along = {int(name.split("_")[1]): saved[name] for name in saved.files
             if name.startswith("iteration_")}
    along.update({0: saved["start"], iterations: saved["final"]})
  return dict(sorted(along.items()))
