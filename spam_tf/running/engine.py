"""Runs a graph of units (spam_tf.running.units) on Ray, or one by one in this process.

Backends:
  ray        a Ray task per unit; a unit's dependencies are passed as the object
             refs of their tasks, so Ray itself starts a unit once what it reads is
             done (no scheduler here). Without an address, a local Ray of its own
             starts in this process with `workers` CPUs (default: the machine's
             cores) and stops with it, whatever other Ray runs on the machine or
             RAY_ADDRESS names; with one, the same tasks go to that cluster. A
             task whose worker process dies (killed, out of memory) is retried by
             Ray; the retry resumes from the unit's latest checkpoint.
  inprocess  the units in dependency order in this process, for debugging.

Units whose results are on disk are not run again, whatever the backend. The
worker function `execute(root_dir, unit, worker_state, *dep_results)` resets
gin and Keras before each unit and seeds everything itself, so a unit's result
does not depend on which units ran before it in the same process.
"""
import contextlib
import os
import socket

import spam_tf

from spam_tf.running import units as units_lib

BACKENDS = ("ray", "inprocess")
RAY_TASK_RETRIES = 3
# A worker's memory grows with the units it has run (over the paper sweep the sweep's PSS
# went from 1.6 to 3.5 GiB with 2 workers): a fresh worker process every this many units
# bounds it, for one TensorFlow import (~3 s) per ~10 minutes of work.
UNITS_PER_WORKER = 20
# Tasks exchange small dicts; Ray's default store (30% of RAM) would reserve GiBs of /dev/shm.
OBJECT_STORE_BYTES = 256 * 1024 * 1024


class EngineError(ValueError):
  """A backend that cannot start (one line, for the user)."""


def finished_results(units, root_dir):
  """{unit: result} of the units whose results are on disk."""
  results = {}
  for unit in units:
    finished = units_lib.finished_result(root_dir, unit)
    if finished is not None:
      results[unit] = finished
  return results


def run(units, root_dir, execute, worker_state, backend="ray", workers=None, ray_address=None,
        on_poll=lambda: None, finished=None):
  """Runs every unit not yet finished; returns {unit: result} for all of them.

  units: every unit to have, deps included, in dependency order
  (units_lib.in_dependency_order). on_poll: called about twice a second.
  finished: finished_results(units, root_dir) if the caller has it already.
  """
  check_backend(backend, None)
  units = list(dict.fromkeys(units))  # a unit listed twice runs once
  results = dict(finished_results(units, root_dir) if finished is None else finished)
  todo = [u for u in units if u not in results]
  if backend == "inprocess":
    for unit in todo:
      on_poll()
      results[unit] = execute(root_dir, unit, worker_state, *[results[d] for d in unit.deps])
    return results
  if todo:
    results.update(_run_on_ray(todo, results, root_dir, execute, worker_state, workers,
                               ray_address, on_poll))
  return results


@contextlib.contextmanager
def session(backend, workers=None, ray_address=None):
  """Starts Ray (for backend 'ray') before the caller imports TensorFlow, and one
  warm-up task per worker that imports it there too, so that the workers' start-up
  runs beside the caller's own (a worker is reused for the units that follow).
  `run` inside the session uses this Ray; it stops when the session ends."""
  check_backend(backend, ray_address)
  if backend != "ray":
    yield
    return
  import ray  # pylint: disable=import-outside-toplevel
  _start_ray(ray, workers, ray_address)
  try:
    slots = int(ray.cluster_resources().get("CPU", 1)) if not ray_address else 0
    warm = ray.remote(num_cpus=1)(_warm_up)
    for _ in range(slots):
      warm.remote()
    yield
  finally:
    ray.shutdown()


def _warm_up():
  import spam_tf.running.worker  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import


def _run_on_ray(todo, finished, root_dir, execute, worker_state, workers, ray_address, on_poll):
  import ray  # pylint: disable=import-outside-toplevel  (heavy; the inprocess backend never needs it)
  owned = not ray.is_initialized()  # else a session() started it
  if owned:
    _start_ray(ray, workers, ray_address)
  pending = {}
  try:
    remote = ray.remote(num_cpus=1, max_retries=RAY_TASK_RETRIES, max_calls=UNITS_PER_WORKER)(execute)
    refs = {}
    for unit in todo:  # dependency order: a dep's ref exists before its dependents
      deps = [refs[d] if d in refs else finished[d] for d in unit.deps]
      refs[unit] = remote.remote(os.path.abspath(root_dir), unit, worker_state, *deps)
    pending.update({ref: unit for unit, ref in refs.items()})
    results = {}
    while pending:
      ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
      on_poll()
      for ref in ready:
        results[pending.pop(ref)] = _get(ray, ref)
    return results
  except ray.exceptions.RayError as e:  # Ray itself failed (e.g. stopped by `ray stop`)
    if isinstance(e, ray.exceptions.RayTaskError):
      raise
    text = str(e).strip().splitlines()
    raise EngineError(f"Ray failed under this run ({text[0] if text else type(e).__name__}); "
                      "rerun the same command to resume (finished units are kept)") from None
  except BaseException:
    # Stop the other units now: their finished iterations are checkpointed.
    for ref in pending:
      ray.cancel(ref, force=True)
    raise
  finally:
    if owned:
      ray.shutdown()


def _get(ray, ref):
  """ray.get, re-raising a unit's own error as itself (not wrapped in RayTaskError)."""
  try:
    return ray.get(ref)
  except ray.exceptions.RayTaskError as e:
    if isinstance(e.cause, Exception):
      raise e.cause from None
    raise


def check_backend(backend, ray_address):
  """Before anything is written: a known backend, and a cluster address that answers."""
  if backend not in BACKENDS:
    raise EngineError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
  if backend == "ray" and ray_address:
    _check_reachable(ray_address)


def _check_reachable(ray_address):
  """A refused or unreachable HOST:PORT is one line at once (ray.init would retry for minutes)."""
  host, _, port = ray_address.rpartition(":")
  if not host or not port.isdigit():
    return  # "auto", ray:// and other forms Ray resolves itself
  try:
    socket.create_connection((host, int(port)), timeout=10).close()
  except OSError as e:
    raise EngineError(f"cannot connect to the Ray cluster at {ray_address}: "
                      f"{e.strerror or e}; is `ray start --head` running there?") from None


def _start_ray(ray, workers, ray_address):
  os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network calls from a local run
  if ray_address:
    try:
      ray.init(address=ray_address, log_to_driver=False,
               runtime_env={"py_modules": [spam_tf.PACKAGE_DIR]})
    except Exception as e:  # pylint: disable=broad-except  (refused, timed out, bad token: all one line)
      text = str(e).strip().splitlines()
      raise EngineError(
          f"cannot connect to the Ray cluster at {ray_address} ({text[0] if text else type(e).__name__}); "
          "is it running, and for token authentication are RAY_AUTH_MODE=token and the cluster's "
          "token set (WORKSPACE.md, 'Run a sweep on a cluster')?") from None
    return
  # address="local": always a Ray of our own. Without it ray.init joins the cluster that
  # RAY_ADDRESS or the last `ray start` on this machine names (/tmp/ray/ray_current_cluster,
  # left behind by a head that did not shut down cleanly), and refuses num_cpus there.
  ray.init(address="local", num_cpus=workers or len(os.sched_getaffinity(0)), include_dashboard=False,
           log_to_driver=False, object_store_memory=OBJECT_STORE_BYTES)
