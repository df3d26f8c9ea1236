"""bin/spam_bench runs at a tiny size and writes the JSON the perf check reads (no timing asserts)."""
import json
import os
import subprocess
import sys


def test_spam_bench_tiny(tmp_path, repo_root):
  out = tmp_path / "bench.json"
  proc = subprocess.run(
      [sys.executable, os.path.join(repo_root, "bin", "spam_bench"), f"--json={out}",
       "--rounds=3", "--split_iterations=1", "--pipeline=none",
       "--scaling_seeds=", "--scaling_batch_steps=300", "--sweeps=none",
       "--gin_bindings=train_eval.batch_steps=300", "--gin_bindings=train_eval.eval_episodes=1"],
      capture_output=True, text=True, cwd=repo_root, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  results = json.loads(out.read_text())
  assert results["config"]["batch_steps"] == 300
  for env_id in ("CartPole-v1", "InvertedPendulum-v4"):
    row = results["envs"][env_id]
    assert row["raw_steps_per_s"] > 0 and row["collect_steps_per_s"] > 0
    assert len(row["raw_rounds"]) == len(row["collect_rounds"]) == 3
    ratios = sorted(c / r for r, c in zip(row["raw_rounds"], row["collect_rounds"]))
    assert row["ratio"] == ratios[1]  # the median pair
    assert row["raw_steps_per_s"] == sorted(row["raw_rounds"])[1]
    assert set(row["iteration_seconds"]) >= {"collect", "train", "eval", "train_share"}
    assert row["seconds_to_first_iteration"] > 0
  assert results["scaling"]["batch_steps"][0]["batch_steps"] == 300
  assert "ratio" in proc.stdout
