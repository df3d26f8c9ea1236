"""A stage's checkpoints: the agent and the history of what it measured, saved together.

The history (eval returns so far, losses, env steps, timings) lives in
checkpoints/history-<iteration>.json beside TF's checkpoint of the same
iteration, so a resumed stage continues its curves exactly where the checkpoint
left them (a kill loses at most the iterations since the last checkpoint).
"""
import os

import tensorflow as tf

from spam_tf import files


class CorruptCheckpoint(RuntimeError):
  """A checkpoint that cannot be restored (message says what to delete)."""


def new_history():
  """What a stage accumulates; saved with every checkpoint so a resume continues it."""
  return {"eval_iterations": [0], "eval_returns": [], "train_returns": [], "losses": [],
          "env_steps": 0, "steps_per_iteration": [], "mean_episode_length": None,
          "iteration_seconds": [],
          "seconds": {"collect": 0.0, "train": 0.0, "eval": 0.0}}


class Checkpoints:
  """tf.train.CheckpointManager over run_dir/checkpoints, plus the history of each kept
  checkpoint, restored together."""

  def __init__(self, run_dir, checkpoint, keep=2):
    self.dir = os.path.join(run_dir, "checkpoints")
    self.manager = tf.train.CheckpointManager(checkpoint, self.dir, max_to_keep=keep)

  def history_path(self, iteration):
    return os.path.join(self.dir, f"history-{iteration}.json")

  def restore(self):
    """Returns the saved history dict, or None when starting fresh."""
    latest = self.manager.latest_checkpoint
    if latest is None:
      return None
    iteration = int(latest.rsplit("-", 1)[1])
    path = self.history_path(iteration)
    if not os.path.exists(path):
      raise RuntimeError(f"checkpoint {latest} has no {path}: delete {self.dir} to restart")
    try:
      self.manager.checkpoint.restore(latest).assert_existing_objects_matched()
      return files.read_json(path)
    except Exception as e:  # pylint: disable=broad-except  (TF raises many types here)
      raise CorruptCheckpoint(f"checkpoint {latest} is unreadable ({type(e).__name__}); "
                              f"delete {self.dir} to restart this stage") from None

  def save(self, iteration, history):
    # History first: a checkpoint whose history is missing is never the latest one.
    files.write_json(self.history_path(iteration), history)
    with files.tf_writes(f"a checkpoint in {self.dir}"):
      self.manager.save(checkpoint_number=iteration)
    kept = {int(p.rsplit("-", 1)[1]) for p in self.manager.checkpoints}
    for name in os.listdir(self.dir):
      if name.startswith("history-") and int(name[8:-5]) not in kept:
        os.remove(os.path.join(self.dir, name))
