"""What the user sees: the project's own output on the terminal, everything else in a log.

TensorFlow prints start-up lines (oneDNN, CUDA) through its C++ logging before
TF_CPP_MIN_LOG_LEVEL takes effect on some CPUs, gym 0.23 prints a banner at
import, TF-Agents and SavedModel export log and warn: none of it can be turned
off reliably where it starts. So the binaries (bin/*) call `setup()` before
TensorFlow loads, and by default (absl `--verbosity` below 1):

  * file descriptors 1 and 2 themselves point away from the terminal, first at
    an anonymous temporary file, then (`log_to`) at the run's log file, which
    worker processes inherit: every third-party line lands there, whatever
    wrote it (C++, print, warnings, absl logging of the per-iteration lines);
  * the project writes its own output -- errors, progress, the summary -- with
    `out()` / `err()` / `stream()`, duplicates of the original stdout / stderr.

With `--verbosity=1` (or more) nothing is redirected: the terminal shows every
line, TensorFlow's included, and `log_to` adds a copy of the project's log
lines in the log file. Without `setup()` (library use, tests) nothing changes.
"""
import logging as py_logging
import os
import sys
import tempfile

from absl import logging

_state = {"mode": None, "out": None, "err": None, "log_path": None}


def setup(verbosity):
  """Called once by a binary after flag parsing, before TensorFlow is imported."""
  if verbosity >= 1:
    _state["mode"] = "verbose"
    return
  _state["mode"] = "quiet"
  # Less C++ logging in the log file; the user's own setting wins.
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  sys.stdout.flush()
  sys.stderr.flush()
  _state["out"] = os.fdopen(os.dup(1), "w", buffering=1)
  _state["err"] = os.fdopen(os.dup(2), "w", buffering=1)
  # Held until log_to() names the run's log (bad input never touches a root_dir).
  sink = tempfile.TemporaryFile()
  os.dup2(sink.fileno(), 1)
  os.dup2(sink.fileno(), 2)
  _state["sink"] = sink


def quiet():
  return _state["mode"] == "quiet"


def log_to(path):
  """From now on the detail (and the worker processes') goes to `path` (appended)."""
  if _state["mode"] is None or _state["log_path"] == path:
    return
  _state["log_path"] = path
  if _state["mode"] == "quiet":
    sys.stdout.flush()
    sys.stderr.flush()
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sink = _state.pop("sink", None)
    if sink is not None:  # what TensorFlow & co. printed before the run's log existed
      sink.seek(0)
      os.write(log_fd, sink.read())
      sink.close()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
  else:
    _add_file_handler(path)


def _add_file_handler(path):
  handler = py_logging.FileHandler(path)
  handler.setFormatter(logging.PythonFormatter())
  logging.get_absl_logger().addHandler(handler)


def worker_state():
  """What a worker process needs to log like its parent (picklable)."""
  return {"mode": _state["mode"], "log_path": _state["log_path"], "pid": os.getpid()}


def setup_worker(state):
  """In a worker process (a Ray worker: its fds point at Ray's own log files): when
  quiet, fds 1 and 2 go to the run's log (appended, as the parent's do); absl logs
  INFO to stderr. Nothing to do in the parent itself (the in-process backend)."""
  if state["pid"] == os.getpid():
    return
  from absl import flags
  if not flags.FLAGS.is_parsed():  # else absl prefixes "Logging before flag parsing"
    flags.FLAGS.mark_as_parsed()
  if state["mode"] == "quiet" and state["log_path"]:
    sys.stdout.flush()
    sys.stderr.flush()
    log_fd = os.open(state["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
  logging.use_absl_handler()  # absl's format (time, file:line) in the log, as in the parent
  logging.set_verbosity(logging.INFO)
  _state["mode"] = state["mode"]
  if state["mode"] == "verbose" and state["log_path"]:
    _add_file_handler(state["log_path"])
    _state["log_path"] = state["log_path"]


def log_path():
  return _state["log_path"]


def stream():
  """The terminal's stderr (for progress displays): the real one even when quiet."""
  return _state["err"] or sys.stderr


def out(text):
  """The project's results (stdout)."""
  print(text, file=_state["out"] or sys.stdout, flush=True)


def err(text):
  """The project's errors and progress lines (stderr; the log keeps a copy when quiet)."""
  print(text, file=stream(), flush=True)
  if quiet():
    print(text, file=sys.stderr, flush=True)


def first_line(error):
  """An error's message as the one line a user sees (its type's name if it has none)."""
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__
