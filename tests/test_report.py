"""bin/spam_report's numbers and sentences on hand-made sweeps whose answers are computed by hand.

No training: each test writes a summary.json with eval curves chosen so that every
score, interval and verdict can be worked out on paper (four seeds; where the seeds
agree, a bootstrap interval has no width).
"""
import json
import os

import numpy as np
import pytest

from spam_tf import files
from spam_tf.analysis import genome_section
from spam_tf.analysis import report
from spam_tf.analysis import text

MAXIMUM = 10.0
SEEDS = [0, 1, 2, 3]


def curve(reach_at, budget=4, start=0.0):
  """A greedy curve [budget + 1] that starts at `start`, climbs, and first reaches
  MAXIMUM at iteration reach_at (None: never; it stays at 0)."""
  if reach_at is None:
    return [0.0] * (budget + 1)
  return [start if i == 0 else (MAXIMUM if i >= reach_at else 1.0) for i in range(budget + 1)]


def stage(curves, run_dirs=None):
  """A method's summary entry from per-seed curves (the stochastic curves equal the greedy)."""
  return {"eval_returns": curves, "stochastic_eval_returns": curves, "convergence_return": MAXIMUM,
          "run_dirs": run_dirs or [f"units/x/{id(curves)}/seed_{s}" for s in range(len(curves))]}


def write_summary(root, experiments):
  os.makedirs(root, exist_ok=True)
  files.write_json(os.path.join(root, "summary.json"), {"experiments": experiments})
  return root


def toy_experiment():
  """scratch reaches the maximum at iterations [2, 3, 3, 4]; spam at 1 on every seed (from a
  start return of 5); copy never (counts as budget 4 + 1 = 5)."""
  return {"name": "toy", "source": "A-v0", "target": "B-v0", "seeds": SEEDS,
          "methods": ["scratch", "spam", "copy"],
          "source_expert": stage([curve(1)] * 4),
          "target_scratch": stage([curve(2), curve(3), curve(3), curve(4)]),
          "target_spam": stage([curve(1, start=5.0)] * 4),
          "target_copy": stage([curve(None)] * 4)}


@pytest.fixture
def toy_report(tmp_path):
  root = write_summary(str(tmp_path / "root"), {"toy": toy_experiment()})
  path = report.write(root, str(tmp_path / "out"), reps=200)
  return open(path).read(), tmp_path / "out"


def row(text_, method):
  """The cells of `method`'s row in the per-experiment table."""
  line = next(line for line in text_.splitlines() if line.startswith(f"| {method} | "))
  return [cell.strip() for cell in line.strip("|").split("|")]


def test_per_method_scores_are_the_hand_computed_ones(toy_report):
  text_, out = toy_report
  # method | start | iterations | AUC | AUC stochastic | final | P(beats scratch) | P(beats copy) | P(spam beats it) | paired | paired AUC
  spam = row(text_, "spam")
  assert spam[1] == "5.0"                         # the start return
  assert spam[2] == "1.0 [1.0, 1.0]"              # every seed at iteration 1
  assert spam[3] == "0.90 [0.90, 0.90]"           # mean return (5 + 4 x 10) / 5 = 9, over 10
  assert spam[5] == "9.0 [9.0, 9.0]"              # the last 10 (here all 5) iterations' mean
  assert spam[6] == spam[7] == "1.00 [1.00, 1.00]"  # faster than scratch and copy on every pairing
  assert spam[9].startswith("-2.0 [") and spam[9].endswith("better")  # 1 - [2, 3, 3, 4]: mean -2
  copy = row(text_, "copy")
  assert copy[2] == "5.0 [5.0, 5.0]" and copy[3] == "0.00 [0.00, 0.00]"  # never: budget + 1
  assert copy[9].startswith("+2.0 [") and copy[9].endswith("worse")
  scratch = row(text_, "scratch")
  assert scratch[2].startswith("3.0 [")            # IQM of [2, 3, 3, 4]: the middle two, 3 and 3
  assert scratch[9] == "—"
  for figure in ("toy.png", "toy_profile.png"):
    assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_answer_names_what_the_intervals_show(toy_report):
  text_, _ = toy_report
  answer = next(line for line in text_.splitlines() if line.startswith("**toy**"))
  assert "SPAM reaches the maximum faster than `scratch` (paired difference in iterations to the maximum -2.0 [" in answer
  assert "SPAM reaches the maximum faster than `copy` (paired difference in iterations to the maximum -4.0 [-4.0, -4.0]" in answer


def test_paper_sparsity_sentence_names_the_cells_that_reach_the_papers_ratio():
  table = {0.0: {1: (0.69, 0.6, 0.7), 2: (0.17, 0.1, 0.2)}, 0.01: {1: (1.0, 1.0, 1.0), 2: (0.71, 0.7, 0.8)}}
  assert text.paper_sparsity_sentence(table, 0.7) == (
      "The paper's sparsity ratio (0.7) is reached (IQM) only at: iteration 1 with |w| ≤ 0.01; "
      "iteration 2 with |w| ≤ 0.01.")
  assert text.paper_sparsity_sentence(table, 1.5).endswith("at no iteration and tolerance measured here.")


def test_a_start_at_the_maximum_before_training_is_named_as_the_ceiling():
  scores = {"scratch": {"iterations": np.array([5, 3])}, "copy": {"iterations": np.array([0, 0])},
            "relu": {"iterations": np.array([0, 2])}, "genome": {"iterations": np.array([0, 0])}}
  assert text.at_maximum_sentence(scores) == (
      " On this pair `copy` is at the maximum before any training on every seed: no start can reach it "
      "faster, only as fast (the ceiling in the figure).")
  scores["copy"]["iterations"] = np.array([0, 1])
  assert text.at_maximum_sentence(scores) == ""


# --- the genome section ------------------------------------------------------------

def genome_experiment(code_size, reach, seeds=SEEDS):
  """One code size of a genome group: scratch at iteration 4 on every seed, copy never,
  genome and genome_mean where `reach` says ({method: iteration})."""
  shared = {"scratch": stage([curve(4)] * 4, [f"units/scratch/seed_{s}" for s in seeds]),
            "copy": stage([curve(None)] * 4, [f"units/copy/seed_{s}" for s in seeds])}
  experiment = {"name": f"g_{code_size}", "source": "A-v0", "target": "B-v0", "seeds": seeds,
                "methods": ["scratch", "copy", "genome", "genome_mean"],
                "source_expert": stage([curve(1)] * 4),
                "genome": {"code_size": code_size, "dim": 512, "compression_ratio": 512 / code_size,
                           "zoo_members": 8, "held_out_members": 2, "config": f"build_genome_autoencoder.code_size = {code_size}\nzoo.size = 3",
                           **{k: [0.5] * 4 for k in ("held_out_relative_error", "held_out_mean_guess_error",
                                                     "expert_relative_error", "dead_output_fraction", "best_epoch")}}}
  for method in shared:
    experiment[f"target_{method}"] = shared[method]
  for method, at in reach.items():
    experiment[f"target_{method}"] = stage([curve(at)] * 4)
  return experiment


def genome_sweep(root, seeds, mean_8_at):
  """Code sizes 4 and 8: genome_mean with code size 8 reaches the maximum at `mean_8_at`;
  the other genome starts at 3 (one iteration saved over scratch)."""
  return write_summary(root, {"g_4": genome_experiment(4, {"genome": 3, "genome_mean": 3}, seeds),
                              "g_8": genome_experiment(8, {"genome": 3, "genome_mean": mean_8_at}, seeds)})


def test_genome_candidates_speedups_and_verdicts_by_hand(tmp_path):
  root = genome_sweep(str(tmp_path / "root"), SEEDS, mean_8_at=1)
  experiments, _ = report.scores_lib.load(root)
  candidates, references = genome_section.genome_candidates(root, genome_section.genome_groups(experiments)[0], 200)
  assert sorted(candidates) == [("genome", 4), ("genome", 8), ("genome_mean", 4), ("genome_mean", 8)]
  assert candidates[("genome_mean", 8)]["speedup"] == (3.0, 3.0, 3.0)  # scratch 4 - 1 on every seed
  assert candidates[("genome", 4)]["speedup"] == (1.0, 1.0, 1.0)
  assert candidates[("genome_mean", 8)]["compression"] == 64.0
  assert candidates[("genome_mean", 8)]["versus"]["copy"] == ((-4.0, -4.0, -4.0), "better")  # 1 - 5
  assert references == {"copy": (-1.0, -1.0, -1.0)}  # never (5) against scratch's 4


def test_the_tuning_pick_is_the_largest_speedup_on_the_tuning_seeds_judged_on_the_reported_ones(tmp_path):
  tuning = genome_sweep(str(tmp_path / "tuning"), [100, 101, 102, 103], mean_8_at=1)  # picked: genome_mean, 8
  reported = genome_sweep(str(tmp_path / "reported"), SEEDS, mean_8_at=4)  # ... which ties scratch here
  assert genome_section.genome_pick(tuning, ["g_4", "g_8"], 200) == ("genome_mean", 8)
  text_ = open(report.write(reported, str(tmp_path / "out"), reps=200, tuning_root_dir=tuning)).read()
  pick = next(line for line in text_.splitlines() if line.startswith("**Picked on the tuning seeds**"))
  assert "`genome_mean` with code size 8" in pick
  assert "vs `scratch` no difference (0.0 [0.0, 0.0])" in pick
  assert pick.endswith("does not reach the maximum faster than all of `copy`, `scratch`.")
  with pytest.raises(ValueError, match="shares seeds"):
    genome_section.check_tuning_root(reported, reported)
