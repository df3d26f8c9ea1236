"""Crash-safe file writes, the root_dir lock and the per-unit locks.

Every result file is written to a temporary name in the same folder and then
renamed, so a kill at any moment leaves either the old file or the new one,
never a partial file that reads as complete.
"""
import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile

import numpy as np

RESULT_FILE = "result.json"  # a unit's result, written last: its presence means done


def _tmp_path(path):
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
  os.close(fd)
  return tmp


def write_atomic(path, write_fn, durable=True):
  """Calls write_fn(tmp_path), fsyncs (unless not durable), then renames tmp_path onto path."""
  tmp = _tmp_path(path)
  try:
    write_fn(tmp)
    if durable:
      with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path, obj, durable=True):
  """durable=False: no fsync (for files that are only looked at, like progress.json)."""
  def dump(tmp):
    with open(tmp, "w") as f:
      json.dump(obj, f, indent=1, sort_keys=False)
      f.write("\n")
  write_atomic(path, dump, durable)


def write_text(path, text):
  def dump(tmp):
    with open(tmp, "w") as f:
      f.write(text)
  write_atomic(path, dump)


def write_npz(path, **arrays):
  def dump(tmp):
    with open(tmp, "wb") as f:
      np.savez(f, **arrays)
  write_atomic(path, dump)


def read_json(path):
  with open(path) as f:
    return json.load(f)


_OLD, _LINKING = ".old", ".linking"  # folders replace_dir and link_tree leave if killed


def replace_dir(tmp_dir, final_dir):
  """Moves a finished directory into place. An older one is renamed aside first and
  removed after, so a kill leaves final_dir either old and whole or new and whole."""
  old_dir = final_dir.rstrip(os.sep) + _OLD
  if os.path.exists(old_dir):
    shutil.rmtree(old_dir)
  if os.path.exists(final_dir):
    os.replace(final_dir, old_dir)
  os.replace(tmp_dir, final_dir)
  if os.path.exists(old_dir):
    shutil.rmtree(old_dir)


def _link_or_copy(source, destination):
  try:
    os.link(source, destination)
  except OSError as e:
    if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
      raise
    shutil.copy2(source, destination)  # another file system, or links not allowed


def link_tree(source_dir, final_dir, extra_json=None):
  """final_dir becomes a tree of hard links to source_dir's files (copies where links
  cannot be made), plus extra_json ({file name: object}, written as new files), put in
  place whole: a killed link leaves no half tree at final_dir."""
  tmp_dir = final_dir.rstrip(os.sep) + _LINKING
  if os.path.exists(tmp_dir):
    shutil.rmtree(tmp_dir)
  shutil.copytree(source_dir, tmp_dir, copy_function=_link_or_copy)
  for name, obj in (extra_json or {}).items():  # renamed over: a link into source_dir is never written through
    write_json(os.path.join(tmp_dir, name), obj)
  replace_dir(tmp_dir, final_dir)


def remove_leftover_dirs(top_dir):
  """Removes the folders a killed replace_dir or link_tree left under top_dir (an old
  tree renamed aside, a half-linked one): never read as results, but TensorBoard would
  show one under logs/ as a run of its own. Call it holding the root's lock."""
  for parent, dir_names, _ in os.walk(top_dir):
    for name in [d for d in dir_names if d.endswith((_OLD, _LINKING))]:
      shutil.rmtree(os.path.join(parent, name))
      dir_names.remove(name)


class WriteError(OSError):
  """TensorFlow could not write a file (checkpoint, SavedModel, TensorBoard events)."""


@contextlib.contextmanager
def tf_writes(what):
  """Turns TensorFlow's own write failures (full disk, file size limit, a path that
  cannot be a directory) into a one-line WriteError, like Python's OSError."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel  (files.py stays TF-free)
  try:
    yield
  except tf.errors.OpError as e:
    raise WriteError(f"cannot write {what}: {tf_error_text(e)}") from None


def tf_error_text(error):
  """The first line of a TF error without its '{{function_node ...}}' prefix."""
  text = str(getattr(error, "message", error)).strip()
  if text.startswith("{{") and "}}" in text:
    text = text.split("}}", 1)[1].strip()
  return text.splitlines()[0] if text else type(error).__name__


class RootLockedError(RuntimeError):
  pass


class RootLock:
  """An exclusive, non-blocking flock on <root_dir>/.lock for one run's life.

  The kernel drops it when the process dies, so a killed run never leaves a
  stale lock behind.
  """

  def __init__(self, root_dir):
    self.path = os.path.join(root_dir, ".lock")
    self._fd = None

  def __enter__(self):
    try:
      self._fd = _locked_fd(self.path, wait=False)
    except OSError as e:
      if e.errno in (errno.EAGAIN, errno.EACCES):
        raise RootLockedError(f"another run is using {os.path.dirname(self.path)}") from None
      raise
    return self

  def __exit__(self, *exc):
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)


def _locked_fd(path, wait):
  """An fd of path (created if missing) holding an exclusive flock on it; closing it
  drops the lock, as the kernel does when the process dies. Without `wait`, a lock
  held elsewhere raises OSError (EAGAIN)."""
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
  except BaseException:
    os.close(fd)
    raise
  return fd


@contextlib.contextmanager
def waiting_lock(path):
  """Holds an exclusive flock on path for the with block, waiting for whoever holds it."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd = _locked_fd(path, wait=True)
  try:
    yield
  finally:
    os.close(fd)
