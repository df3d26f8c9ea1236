"""A live view of a run's units, read from the files the units write.

Each training stage writes <run_dir>/progress.json every iteration (see
train.train_eval) and result.json when it is done; the parent process polls
them, so the display works whatever runs the units (worker processes today)
and shows a resumed unit where it resumed.

On a terminal: a rich progress display (all iterations of the run, units done,
elapsed, ETA; one bar per running unit with its latest eval return). Elsewhere
(a pipe, CI, a file): a plain line when a unit finishes, and one at least
every `interval` seconds while nothing finishes.
"""
import collections
import dataclasses
import json
import os
import time

from spam_tf import files

PROGRESS_FILE = "progress.json"
RESULT_FILE = files.RESULT_FILE


@dataclasses.dataclass
class Unit:
  label: str       # e.g. "seed 0 target_spam"
  run_dir: str     # where the unit writes progress.json and result.json
  iterations: int  # its training iterations (0: a unit without iterations, e.g. the autoencoder)


def _read_json(path):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):  # not there yet (or replaced while read)
    return None


def unit_state(unit):
  """(finished, iteration, latest eval return or None) of a unit, from its files."""
  result = _read_json(os.path.join(unit.run_dir, RESULT_FILE))
  if result is not None:
    return True, unit.iterations, result.get("final_eval_return")
  progress = _read_json(os.path.join(unit.run_dir, PROGRESS_FILE))
  if progress is None:
    return False, 0, None
  return False, int(progress["iteration"]), progress.get("eval_return")


def write_unit_progress(run_dir, iterations, history, iteration):
  """progress.json of a training unit (train.train_eval's history): what unit_state reads
  for the progress display (not needed to resume)."""
  files.write_json(os.path.join(run_dir, PROGRESS_FILE), {
      "iteration": iteration, "iterations": iterations,
      "eval_return": history["eval_returns"][-1] if history["eval_returns"] else None,
      "train_return": history["train_returns"][-1] if history["train_returns"] else None,
  }, durable=False)


def node_of(unit):
  """The Ray node that ran a finished unit (its result.json's "node"), or None."""
  return (_read_json(os.path.join(unit.run_dir, RESULT_FILE)) or {}).get("node")


def format_seconds(seconds):
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
      f"{seconds // 60}:{seconds % 60:02d}"


def _return_text(value):
  return "-" if value is None else f"{value:.1f}"


class Display:
  """Polls the units' files; `refresh()` often, `close()` at the end."""

  def __init__(self, units, stream, title, log_path=None, interval=120.0, clock=time.monotonic):
    self.units, self.stream, self.title = list(units), stream, title
    self.interval, self.clock = interval, clock
    self.nodes = collections.Counter()  # Ray node id -> units that finished there during this run
    self.start = clock()
    self.states = {u.label: unit_state(u) for u in self.units}
    self.total_iterations = sum(u.iterations for u in self.units)
    self.iterations_at_start = self._iterations_done()
    self.last_line = self.start
    self.rich = None
    if stream.isatty():
      self._start_rich()
    else:
      self._line(f"{title}: {len(self.units)} units ({self._units_done()} done), "
                 f"{self.total_iterations} iterations" + (f"; detail in {log_path}" if log_path else ""))

  def _iterations_done(self):
    return sum(state[1] for state in self.states.values())

  def _units_done(self):
    return sum(state[0] for state in self.states.values())

  def eta_seconds(self):
    """Seconds left at this run's rate so far, or None before any progress."""
    done_here = self._iterations_done() - self.iterations_at_start
    if done_here <= 0:
      return None
    elapsed = self.clock() - self.start
    return elapsed * (self.total_iterations - self._iterations_done()) / done_here

  def _running(self):
    return [(u, self.states[u.label]) for u in self.units
            if not self.states[u.label][0] and self.states[u.label][1] > 0]

  def status_line(self):
    eta = self.eta_seconds()
    running = ", ".join(f"{u.label} {it}/{u.iterations} (eval {_return_text(ret)})"
                        for u, (_, it, ret) in self._running())
    return (f"[{format_seconds(self.clock() - self.start)}] {self._units_done()}/{len(self.units)} units "
            f"({len(self._running())} running), "
            f"{self._iterations_done()}/{self.total_iterations} iterations, ETA "
            f"{'?' if eta is None else format_seconds(eta)}" + (f"; running: {running}" if running else "")
            + (f"; {self.nodes_text()}" if len(self.nodes) > 1 else ""))

  def nodes_text(self):
    """'units per node: 1a2b3c 7, 4d5e6f 5': the units this display saw finish, by Ray node."""
    return "units per node: " + ", ".join(f"{node[:6]} {count}" for node, count in self.nodes.most_common())

  def _line(self, text):
    print(text, file=self.stream, flush=True)
    self.last_line = self.clock()

  def refresh(self):
    for unit in self.units:
      if self.states[unit.label][0]:
        continue  # finished: its result.json (large) need not be read again
      state = unit_state(unit)
      finished_now = state[0] and not self.states[unit.label][0]
      self.states[unit.label] = state
      if finished_now:
        node = node_of(unit)
        if node:
          self.nodes[node] += 1
        self._finished(unit, state[2])
    if self.rich is not None:
      self._refresh_rich()
    elif self.clock() - self.last_line >= self.interval:
      self._line(self.status_line())

  def _finished(self, unit, final_return):
    text = (f"{unit.label} done" + (f": final eval return {_return_text(final_return)}"
                                    if unit.iterations else "")
            + f" ({self._units_done()}/{len(self.units)} units)")
    if self.rich is None:
      self._line(f"[{format_seconds(self.clock() - self.start)}] {text}")
      return
    self.rich.console.print(text)
    if unit.label in self.unit_tasks:
      self.rich.remove_task(self.unit_tasks.pop(unit.label))

  def close(self):
    self.refresh()
    if len(self.nodes) > 1:  # a cluster: where the units of this run went
      if self.rich is None:
        self._line(f"[{format_seconds(self.clock() - self.start)}] {self.nodes_text()}")
      else:
        self.rich.console.print(self.nodes_text())
    if self.rich is not None:
      self.rich.stop()

  # --- a terminal: rich ---------------------------------------------------

  def _start_rich(self):
    from rich import console as rich_console
    from rich import progress as rich_progress
    columns = [rich_progress.TextColumn("{task.description}"), rich_progress.BarColumn(),
               rich_progress.TextColumn("{task.completed}/{task.total} it"),
               rich_progress.TimeElapsedColumn(), rich_progress.TextColumn("ETA"),
               rich_progress.TimeRemainingColumn()]
    self.rich = rich_progress.Progress(
        *columns, console=rich_console.Console(file=self.stream), refresh_per_second=2,
        # sys.stdout/stderr are the log (spam_tf.terminal.console): keep what is written there out
        # of the display (rich would draw it, e.g. Ray's start-up warnings).
        redirect_stdout=False, redirect_stderr=False)
    self.overall = self.rich.add_task(self._overall_text(), total=self.total_iterations,
                                      completed=self._iterations_done())
    self.unit_tasks = {}
    self.rich.start()
    self._refresh_rich()

  def _overall_text(self):
    return f"{self.title}: {self._units_done()}/{len(self.units)} units, {len(self._running())} running"

  def _refresh_rich(self):
    for unit, (_, iteration, eval_return) in self._running():
      text = f"  {unit.label} (eval {_return_text(eval_return)})"
      if unit.label not in self.unit_tasks:
        self.unit_tasks[unit.label] = self.rich.add_task(text, total=unit.iterations,
                                                         completed=iteration)
      self.rich.update(self.unit_tasks[unit.label], completed=iteration, description=text)
    self.rich.update(self.overall, completed=self._iterations_done(),
                     description=self._overall_text())
