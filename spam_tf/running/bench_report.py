"""Runs the benchmark set of bin/spam_bench and formats it as a table."""
import os
import platform
import time

from spam_tf.running import bench
from spam_tf.terminal import console


def run_sweeps(which, gin_files=()):
  """The sweep engine's costs. smoke: configs/sweeps/smoke.gin in-process (one core),
  on Ray with 1 worker (Ray's overhead = its wall time / in-process - 1) and with 2
  (scaling = 1-worker / 2-worker wall time); paper: the full paper sweep on Ray."""
  if which == "paper":
    return {"paper": bench.sweep_run("configs/sweeps/paper.gin", "ray", len(os.sched_getaffinity(0)),
                                     gin_files)}
  rows = {name: bench.sweep_run("configs/sweeps/smoke.gin", backend, workers, gin_files)
          for name, backend, workers in (("inprocess", "inprocess", 1), ("ray_1", "ray", 1),
                                         ("ray_2", "ray", 2))}
  rows["ray_overhead"] = rows["ray_1"]["seconds"] / rows["inprocess"]["seconds"] - 1
  rows["scaling_1_to_2_workers"] = rows["ray_1"]["seconds"] / rows["ray_2"]["seconds"]
  return rows


def run_all(env_ids, rounds, split_iterations, pipeline, scaling_seeds, scaling_batch_steps,
            sweeps="none", sweep_root=None):
  """Returns the JSON-able results dict: {"envs": {id: {...}}, "pipeline": ..., "scaling": ...}."""
  num_envs, batch_steps = bench.default_training_shape()
  results = {"machine": {"cpus": len(os.sched_getaffinity(0)),
                         "python": platform.python_version()},
             "config": {"num_envs": num_envs, "batch_steps": batch_steps},
             "envs": {}, "scaling": {"seeds": [], "batch_steps": []}}
  for env_id in env_ids:
    console.err(f"measuring {env_id}: raw vs collector rate, iteration split, start-up")
    results["envs"][env_id] = {
        **bench.collect_to_raw_ratio(env_id, num_envs, batch_steps, rounds),
        "iteration_seconds": bench.iteration_split(env_id, split_iterations),
        "seconds_to_first_iteration": bench.seconds_to_first_iteration(env_id),
    }
  if pipeline != "none":
    gin_files = ["configs/smoke.gin"] if pipeline == "smoke" else []
    results["pipeline"] = {"config": pipeline, "seeds": 3, **bench.pipeline_run(
        "CartPole-v1", "InvertedPendulum-v4", 3, gin_files)}
  for seeds in scaling_seeds:
    row = bench.pipeline_run("CartPole-v1", "InvertedPendulum-v4", seeds, ["configs/smoke.gin"])
    results["scaling"]["seeds"].append({"seeds": seeds, "workers": 2, **row})
  for steps in scaling_batch_steps:
    split = bench.iteration_split(env_ids[-1], max(1, split_iterations // 2), batch_steps=steps)
    results["scaling"]["batch_steps"].append({"env_id": env_ids[-1], "batch_steps": steps, **split})
  if sweeps != "none":
    console.err(f"timing the {sweeps} sweep")
    results["sweeps"] = run_sweeps(sweeps)
  if sweep_root:
    results["sweep_root"] = {"root_dir": sweep_root, "unit_costs": bench.unit_costs(sweep_root)}
  results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
  return results


def format_table(results):
  lines = [f"config: num_envs={results['config']['num_envs']} batch_steps={results['config']['batch_steps']}",
           f"{'env':22s} {'raw steps/s':>12s} {'collect/s':>10s} {'ratio':>6s} {'ratio IQR':>10s} {'it collect':>10s} "
           f"{'it train':>9s} {'it eval':>8s} {'train share':>11s} {'first it':>9s}"]
  for env_id, row in results["envs"].items():
    split, q = row["iteration_seconds"], row["ratio_quartiles"]
    lines.append(f"{env_id:22s} {row['raw_steps_per_s']:12.0f} {row['collect_steps_per_s']:10.0f} "
                 f"{row['ratio']:6.2f} {q[0]:4.2f}-{q[1]:4.2f}  {split['collect']:9.2f}s {split['train']:8.2f}s "
                 f"{split['eval']:7.2f}s {split['train_share']:11.2f} {row['seconds_to_first_iteration']:8.1f}s")
  if "pipeline" in results:
    p = results["pipeline"]
    lines.append(f"pipeline ({p['config']}, {p['seeds']} seeds): {p['seconds']:.0f} s, peak memory "
                 f"{p['peak_pss_mib']:.0f} MiB PSS summed over processes, largest process "
                 f"{p['peak_process_rss_mib']:.0f} MiB RSS")
  for row in results["scaling"]["seeds"]:
    lines.append(f"scaling: {row['seeds']} seeds (smoke, {row['workers']} workers): {row['seconds']:.0f} s, "
                 f"peak {row['peak_pss_mib']:.0f} MiB PSS")
  for row in results["scaling"]["batch_steps"]:
    lines.append(f"scaling: {row['env_id']} batch_steps={row['batch_steps']}: {row['total']:.2f} s/iteration "
                 f"(collect {row['collect']:.2f}, train {row['train']:.2f}, eval {row['eval']:.2f})")
  lines += _sweep_lines(results)
  return "\n".join(lines)


def _sweep_lines(results):
  lines = []
  rows = results.get("sweeps", {})
  for name, row in rows.items():
    if isinstance(row, dict):
      lines.append(f"sweep {name}: {row['seconds']:.0f} s wall ({row['backend']}, {row['workers']} "
                   f"workers), cores busy {row['busy_fraction']:.0%}, peak {row['peak_pss_mib']:.0f} MiB PSS")
  if "ray_overhead" in rows:
    lines.append(f"Ray overhead on the smoke sweep (1 worker vs in-process): {rows['ray_overhead']:+.0%} "
                 f"(target <= +10%); 1 -> 2 workers: {rows['scaling_1_to_2_workers']:.2f}x faster")
  costs = results.get("sweep_root", {}).get("unit_costs") or next(
      (row["unit_costs"] for row in rows.values() if isinstance(row, dict)), {})
  for key, cost in costs.items():
    lines.append(f"unit cost {key}: {cost['mean_seconds']:.1f} core-seconds of work (mean of {cost['units']})")
  return lines
