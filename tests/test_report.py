"""bin/spam_report's numbers and sentences on hand-made sweeps whose answers are computed by hand.

No training: each test writes a summary.json with eval curves chosen so that every
score, interval and verdict can be worked out on paper (eight seeds, the fewest at
which a sign-flip test can give p = 2/256 < 5% after Holm over a handful of
comparisons; where the seeds agree, an interval has no width).
"""
import os

import numpy as np
import pytest

from spam_tf import files
from spam_tf.analysis import genome_section
from spam_tf.analysis import matrices
from spam_tf.analysis import report
from spam_tf.analysis import sparsity_section

MAXIMUM = 10.0
SEEDS = list(range(8))


def curve(reach_at, budget=4, start=0.0):
  """A greedy curve [budget + 1] that starts at `start`, climbs, and first reaches
  MAXIMUM at iteration reach_at (None: never; it stays at 0)."""
  if reach_at is None:
    return [0.0] * (budget + 1)
  return [start if i == 0 else (MAXIMUM if i >= reach_at else 1.0) for i in range(budget + 1)]


def stage(curves, run_dirs=None):
  """A method's summary entry from per-seed curves (the stochastic curves equal the greedy)."""
  return {"eval_returns": curves, "stochastic_eval_returns": curves, "criterion": MAXIMUM,
          "run_dirs": run_dirs or [f"units/x/{id(curves)}/seed_{s}" for s in range(len(curves))]}


def tasks(floor=0.0):
  """summary.json's "tasks" of a toy experiment: criterion MAXIMUM, the random policy at `floor`."""
  return {stage_: {"env_id": env_id, "criterion": MAXIMUM, "floor": floor, "floor_episodes": 100}
          for stage_, env_id in (("source", "A-v0"), ("target", "B-v0"))}


def write_summary(root, experiments, code=None):
  """root/summary.json, and a result.json for every unit it names that records the code
  that trained it (code: {run_dir: code}; the others: commit 'abc1234', clean)."""
  os.makedirs(root, exist_ok=True)
  files.write_json(os.path.join(root, "summary.json"), {"experiments": experiments})
  for experiment in experiments.values():
    for key, stage_ in experiment.items():
      for run_dir in stage_.get("run_dirs", []) if isinstance(stage_, dict) else []:
        files.write_json(os.path.join(root, run_dir, "result.json"),
                         {"code": (code or {}).get(run_dir, {"commit": "abc1234", "dirty": False})})
  return root


def toy_experiment(seeds=8):
  """scratch reaches the maximum at iterations [2, 3, 3, 4] (repeated over the seeds); spam
  at 1 on every seed (from a start return of 5); copy never (counts as budget 4 + 1 = 5)."""
  scratch = [curve(2), curve(3), curve(3), curve(4)] * (seeds // 4)
  return {"name": "toy", "source": "A-v0", "target": "B-v0", "seeds": list(range(seeds)),
          "methods": ["scratch", "spam", "copy"], "tasks": tasks(),
          "primary": [["spam", "scratch"], ["spam", "copy"]],
          "source_expert": stage([curve(1)] * seeds),
          "target_scratch": stage(scratch),
          "target_spam": stage([curve(1, start=5.0)] * seeds),
          "target_copy": stage([curve(None)] * seeds)}


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
  # method | start | iterations | AUC | AUC stochastic | final | P(beats scratch) | saved vs scratch (exploratory)
  spam = row(text_, "spam")
  assert spam[1] == "5.0"                         # the start return
  assert spam[2] == "1.0 [1.0, 1.0]"              # every seed at iteration 1
  assert spam[3] == "0.90 [0.90, 0.90]"           # mean return (5 + 4 x 10) / 5 = 9, over 10
  assert spam[5] == "9.0 [9.0, 9.0]"              # the last 10 (here all 5) iterations' mean
  assert spam[6] == "1.00 [1.00, 1.00]"           # faster than scratch on every pairing
  assert spam[7] == "primary: see the answer"     # its verdict is the answer's, not repeated here
  copy = row(text_, "copy")
  assert copy[2] == "5.0 [5.0, 5.0]" and copy[3] == "0.00 [0.00, 0.00]"  # never: budget + 1
  # scratch - copy = [2, 3, 3, 4] - 5: saved -2 on average, every seed behind: p = 2 / 2^8; no verdict word.
  assert copy[7].startswith("-2.0 [") and copy[7].endswith("], p = 0.0078")
  scratch = row(text_, "scratch")
  assert scratch[2].startswith("3.0 [")            # IQM of [2, 2, 3, 3, 3, 3, 4, 4]: the middle four
  assert scratch[7] == "—"
  for figure in ("toy_curves.png", "toy_profile.png"):
    assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_opens_with_its_answer_from_the_primary_comparisons_only(toy_report):
  text_, _ = toy_report
  lines = text_.splitlines()
  assert lines[2].startswith("This report answers 2 primary comparisons declared before the runs (8 seeds each;")
  assert ("Against training from scratch, `spam` reached the threshold faster in 1 (toy (+2.0)), of 1 experiment."
          in lines[2])
  assert ("Against its control without an autoencoder (`copy`), `spam` reached the threshold faster in 1 "
          "(toy (+4.0 vs `copy`)), of 1 experiment.") in lines[2]
  # Both comparisons: every seed the same way, p = 2/256, Holm over 2: 0.0156. spam - copy is -4 on
  # every seed, so its adjusted interval has no width.
  assert "| toy | `spam` vs `scratch` | 10 | +2.0 [" in text_ and "| faster (0.016) |  |" in text_
  assert "| toy | `spam` vs `copy` | 10 | +4.0 [+4.0, +4.0] | faster (0.016) |  |" in text_
  assert text_.count("faster (") == 2  # no other verdict anywhere
  body = text_.split("\n", 1)[1]  # below the title, which asks "a better starting point?"
  assert "slower (" not in body and "no difference (" not in body and "better" not in body and "worse" not in body


def test_four_seeds_can_carry_no_verdict(tmp_path):
  """With 4 seeds the smallest sign-flip p-value is 2/16: spam faster on every seed is
  still 'no difference', and the answer says that no shift could have been found."""
  root = write_summary(str(tmp_path / "root"), {"toy": toy_experiment(seeds=4)})
  text_ = open(report.write(root, str(tmp_path / "out"), reps=200)).read()
  assert "| toy | `spam` vs `scratch` | 10 | +2.0 [unbounded: too few seeds] | no difference (0.25) | " \
         "too few seeds to find any shift |" in text_
  assert "with no difference found in 1 (toy (+2.0; too few seeds to find any shift)), of 1" in text_


def test_a_unit_shared_by_two_experiments_is_judged_once(tmp_path):
  """The same units under the same criterion in two experiments: the second is reported as
  the first, and a comparison of the same units is judged in the first family only."""
  first = toy_experiment()
  second = {**first, "name": "again"}
  third = {**first, "name": "partly", "methods": ["scratch", "spam"], "primary": [["spam", "scratch"]]}
  del third["target_copy"]
  root = write_summary(str(tmp_path / "root"), {"toy": first, "again": second, "partly": third})
  text_ = open(report.write(root, str(tmp_path / "out"), reps=100)).read()
  assert "| again | same units and criterion as toy | | | | |" in text_
  assert "| partly | `spam` vs `scratch` | judged in toy | | | |" in text_
  assert text_.count("faster (") == 2


def test_committed_reports_name_paths_relative_to_the_repository():
  import spam_tf
  repo = spam_tf.REPO_DIR
  text_ = (f"- command: `{repo}/bin/spam_sweep --root_dir={repo}/runs/paper`; from `/elsewhere/root`; "
           "iterations 2/256, d / code size")
  assert report.without_machine_paths(text_) == (
      "- command: `bin/spam_sweep --root_dir=runs/paper`; from "
      f"`{os.path.relpath('/elsewhere/root', repo)}`; iterations 2/256, d / code size")


def test_the_header_says_which_code_trained_the_units(tmp_path):
  experiments = {"toy": toy_experiment()}
  clean = open(report.write(write_summary(str(tmp_path / "a"), experiments), str(tmp_path / "ra"), reps=100)).read()
  assert "- every unit was trained at commit `abc1234` on a clean tree" in clean
  dirty = experiments["toy"]["target_spam"]["run_dirs"][0]
  mixed = open(report.write(write_summary(str(tmp_path / "b"), experiments, {dirty: {"commit": "def5678", "dirty": True}}),
                            str(tmp_path / "rb"), reps=100)).read()
  assert "- the units were trained at: 31 at commit `abc1234`; 1 at commit `def5678` (dirty tree)" in mixed


def test_paper_sparsity_sentence_names_the_cells_that_reach_the_papers_ratio():
  table = {0.0: {1: (0.69, 0.6, 0.7), 2: (0.17, 0.1, 0.2)}, 0.01: {1: (1.0, 1.0, 1.0), 2: (0.71, 0.7, 0.8)}}
  assert sparsity_section.paper_sentence(table, 0.7) == (
      "The paper's sparsity ratio (0.7) is reached (IQM) only at: iteration 1 with |w| ≤ 0.01; "
      "iteration 2 with |w| ≤ 0.01.")
  assert sparsity_section.paper_sentence(table, 1.5).endswith("at no iteration and tolerance measured here.")


def test_the_sparsity_sentence_looks_only_below_the_learning_rate_and_after_the_first_step():
  table = {0.0: {1: (0.6, 0.5, 0.7), 2: (0.17, 0.1, 0.2), 5: (0.12, 0.1, 0.2)},
           1e-3: {1: (0.9, 0.8, 1.0), 2: (0.31, 0.2, 0.4), 5: (0.2, 0.1, 0.3)},
           1e-2: {1: (1.0, 1.0, 1.0), 2: (0.71, 0.7, 0.8), 5: (0.5, 0.4, 0.6)}}
  sentence = sparsity_section.artefact_sentence(table, 0.71, learning_rate=0.007)
  assert "at most about the learning rate (0.007)" in sentence
  # 1e-2 is above the learning rate and iteration 1 is left out: the largest is 0.31.
  assert sentence.endswith("the sparsity ratio is at most 0.31 (IQM, at iteration 2 with |w| ≤ 0.001), "
                           "against the paper's 0.71.")
  # f2's learning rate 0.0007 (the paper's 4.3): 1e-3 is above it too.
  assert "at most 0.17 (IQM, at iteration 2 with exact zeros)" in sparsity_section.artefact_sentence(table, 0.71, 0.0007)


def test_a_start_at_the_maximum_before_training_is_named_as_the_ceiling():
  scores = {"scratch": {"iterations": np.array([5, 3])}, "copy": {"iterations": np.array([0, 0])},
            "relu": {"iterations": np.array([0, 2])}, "genome": {"iterations": np.array([0, 0])}}
  assert genome_section.at_maximum_sentence(scores) == (
      " On this pair `copy` is at the criterion before any training on every seed: no start can reach it "
      "faster, only as fast (the ceiling in the figure).")
  scores["copy"]["iterations"] = np.array([0, 1])
  assert genome_section.at_maximum_sentence(scores) == ""


# --- the genome section ------------------------------------------------------------

def genome_experiment(code_size, reach, seeds=SEEDS):
  """One code size of a genome group: scratch at iteration 4 on every seed, copy never,
  genome and genome_mean where `reach` says ({method: iteration})."""
  shared = {"scratch": stage([curve(4)] * len(seeds), [f"units/scratch/seed_{s}" for s in seeds]),
            "copy": stage([curve(None)] * len(seeds), [f"units/copy/seed_{s}" for s in seeds])}
  experiment = {"name": f"g_{code_size}", "source": "A-v0", "target": "B-v0", "seeds": seeds,
                "methods": ["scratch", "copy", "genome", "genome_mean"], "tasks": tasks(),
                "source_expert": stage([curve(1)] * len(seeds)),
                "genome": {"code_size": code_size, "dim": 512, "compression_ratio": 512 / code_size,
                           "zoo_members": 8, "held_out_members": 2, "config": f"build_genome_autoencoder.code_size = {code_size}\nzoo.size = 3",
                           **{k: [0.5] * len(seeds) for k in ("held_out_relative_error", "held_out_mean_guess_error",
                                                     "expert_relative_error", "dead_output_fraction", "best_epoch")}}}
  for method in shared:
    experiment[f"target_{method}"] = shared[method]
  for method, at in reach.items():
    experiment[f"target_{method}"] = stage([curve(at)] * len(seeds))
  return experiment


def genome_sweep(root, seeds, mean_8_at):
  """Code sizes 4 and 8: genome_mean with code size 8 reaches the maximum at `mean_8_at`;
  the other genome starts at 3 (one iteration saved over scratch)."""
  return write_summary(root, {"g_4": genome_experiment(4, {"genome": 3, "genome_mean": 3}, seeds),
                              "g_8": genome_experiment(8, {"genome": 3, "genome_mean": mean_8_at}, seeds)})


def test_genome_candidates_speedups_by_hand_exploratory(tmp_path):
  root = genome_sweep(str(tmp_path / "root"), SEEDS, mean_8_at=1)
  experiments, _ = report.scores_lib.load(root)
  candidates, references = genome_section.genome_candidates(root, genome_section.genome_groups(experiments)[0], 200)
  assert sorted(candidates) == [("genome", 4), ("genome", 8), ("genome_mean", 4), ("genome_mean", 8)]
  assert candidates[("genome_mean", 8)]["speedup"] == (3.0, 3.0, 3.0)  # scratch 4 - 1 on every seed
  assert candidates[("genome", 4)]["speedup"] == (1.0, 1.0, 1.0)
  assert candidates[("genome_mean", 8)]["compression"] == 64.0
  versus_copy = candidates[("genome_mean", 8)]["versus"]["copy"]  # 1 - 5 on all 8 seeds: p = 2/256
  assert (versus_copy["mean"], versus_copy["low"], versus_copy["high"]) == pytest.approx((-4.0, -4.0, -4.0))
  assert versus_copy["p"] == 2 / 256 and "verdict" not in versus_copy  # exploratory: no verdict
  assert references == {"copy": (-1.0, -1.0, -1.0)}  # never (5) against scratch's 4


def test_the_tuning_pick_is_the_largest_speedup_on_the_tuning_seeds_judged_on_the_reported_ones(tmp_path):
  tuning = genome_sweep(str(tmp_path / "tuning"), list(range(100, 108)), mean_8_at=1)  # picked: genome_mean, 8
  reported = genome_sweep(str(tmp_path / "reported"), SEEDS, mean_8_at=4)  # ... which ties scratch here
  assert genome_section.genome_pick(tuning, ["g_4", "g_8"], 200) == ("genome_mean", 8)
  text_ = open(report.write(reported, str(tmp_path / "out"), reps=200, tuning_root_dir=tuning)).read()
  pick = next(line for line in text_.splitlines() if line.startswith("**The answer for this pair**"))
  # Its one primary comparison here (no relu_prune or zoo_mean ran): scratch, tied on every seed.
  assert "`genome_mean` with code size 8: vs `scratch` no difference, +0.0 [+0.0, +0.0] iterations saved" in pick
  assert pick.endswith("(Holm p = 1; would have found any shift).")
  assert "| g_4 (tuning pick) | `genome_mean (code size 8)` vs `scratch` | 10 | +0.0 [+0.0, +0.0] | no difference (1) |" \
      in text_  # the report's answer carries the same verdict
  with pytest.raises(ValueError, match="shares seeds"):
    genome_section.check_tuning_root(reported, reported)


# --- transfer matrices ---------------------------------------------------------------

def study_experiment(source, target, seeds=12, spam_at=1):
  """toy_experiment (scratch at [2, 3, 3, 4], spam at `spam_at` from a start of 5, copy never) on one pair."""
  experiment = toy_experiment(seeds)
  experiment.update({"name": f"{source}_{target}", "source": source, "target": target,
                     "target_spam": stage([curve(spam_at, start=5.0)] * seeds)})
  return experiment


def test_a_study_of_pairs_gets_transfer_matrices_with_hand_computed_cells(tmp_path):
  experiments = {e["name"]: e for e in (study_experiment("A-v0", "B-v0"),
                                         study_experiment("B-v0", "A-v0", spam_at=2))}
  assert matrices.study(experiments) == {("A-v0", "B-v0"): "A-v0_B-v0", ("B-v0", "A-v0"): "B-v0_A-v0"}
  judged = report.primary.judge_all(experiments)
  cells = matrices.cells(experiments, matrices.study(experiments), judged)
  # Scratch needs 3 iterations on average, spam 1 (12 of 12 seeds faster: p = 2 / 2^12, Holm
  # over the pair's 2 primary comparisons), copy never (counts as 5). Jumpstart: spam's start
  # return 5 of the criterion 10 (floor 0) against scratch's 0; copy starts at 0 too. Only
  # spam vs scratch is primary: every other cell carries no verdict.
  assert cells["spam"][("A-v0", "B-v0")] == {"time_to_threshold": (2.0, "better"), "jumpstart": (0.5, None)}
  assert cells["spam"][("B-v0", "A-v0")]["time_to_threshold"] == (1.0, "better")  # there at 2: one saved
  assert cells["copy"][("B-v0", "A-v0")] == {"time_to_threshold": (-2.0, None), "jumpstart": (0.0, None)}
  assert cells["spam"]["fallback"] == {("A-v0", "B-v0"): False, ("B-v0", "A-v0"): False}
  root = write_summary(str(tmp_path / "root"), experiments)
  text_ = open(report.write(root, str(tmp_path / "out"), reps=100)).read()
  assert "## Transfer matrices" in text_
  assert "| method | source → target | B-v0 | A-v0 |" in text_
  assert "| spam | A-v0 | +2.0* | — |" in text_ and "| spam | B-v0 | — | +1.0* |" in text_  # no same-task pair ran
  assert "| copy | B-v0 | — | -2.0 |" in text_
  assert (tmp_path / "out" / "matrix_iterations_saved.png").exists()


def test_one_pair_run_under_several_configs_is_not_a_study():
  experiments = {"x": study_experiment("A-v0", "B-v0"), "y": study_experiment("A-v0", "B-v0"),
                 "z": study_experiment("B-v0", "A-v0")}
  experiments["y"]["name"] = "y"
  assert matrices.study(experiments) is None  # the paper's sweep: 4.2, mapped 4.2 and 4.3 share a pair
  del experiments["y"]
  experiments["z"].update(source="A-v0", target="A-v0")
  assert matrices.study(experiments) is None  # one source: a row, not a matrix (the smoke sweep)


# --- the automatic map's section -----------------------------------------------------

def test_the_automatic_map_section_by_hand(tmp_path):
  plain = toy_experiment()  # spam at 1 on every seed; scratch at [2, 3, 3, 4] twice
  automatic = toy_experiment()
  automatic.update(name="auto", methods=["scratch", "spam"], primary=[])
  del automatic["target_copy"]
  automatic["target_spam"] = stage([curve(2, start=5.0)] * 8)
  mapped = {"chosen": "map_1", "map": {"observation": [0, 2, None], "signs": [1, -1, 1], "action_sign": -1,
                                       "action_order": None}, "charged_env_steps": 300,
            "verdict": "better than nothing"}
  nothing = {"chosen": "nothing", "map": None, "charged_env_steps": 200, "verdict": "worse than nothing"}
  automatic["target_spam"]["auto_map_per_seed"] = [mapped] * 6 + [nothing] * 2
  automatic["target_spam"]["start_cost_iterations_per_seed"] = [0.75] * 6 + [0.5] * 2
  root = write_summary(str(tmp_path / "root"), {"toy": plain, "auto": automatic})
  text_ = open(report.write(root, str(tmp_path / "out"), reps=100)).read()
  assert "## Automatic inter-task mapping" in text_ and "### A-v0 → B-v0" in text_
  # Mean cost (6 x 300 + 2 x 200) / 8 = 275 steps, (6 x 0.75 + 2 x 0.5) / 8 = 0.6875 iterations.
  assert ("| spam | [0, -2, ·] action - × 6; nothing × 2 | better than nothing × 6; worse than nothing × 2 "
          "| 275 (0.69) |") in text_
  assert "| seed | spam: chosen | charged steps |" in text_
  assert "| 5 | [0, -2, ·] action - | 300 |" in text_ and "| 6 | nothing | 200 |" in text_
  # auto's spam at 2 against toy's spam at 1: 1 saved... the other way, on all 8 seeds, p = 2 / 2^8;
  # against auto's scratch at [2, 3, 3, 4] x 2: saved 0, 1, 1, 2 (x 2), p = 2^2 x 2 / 2^8 = 1 / 32.
  # Not declared primary: exploratory, no verdict word.
  assert "- auto spam vs toy/spam: -1.0 [" in text_ and "], p = 0.0078 (exploratory)" in text_
  assert "- auto spam vs scratch: +1.0 [" in text_ and "], p = 0.031 (exploratory)" in text_


def test_the_automatic_map_section_uses_the_fallback_threshold_by_hand(tmp_path):
  # No run reaches the criterion 10: iterations count to the fallback from both arms' runs,
  # the median over the 16 runs of their last-10 means (here all 5 iterations): scratch's
  # (0 + 1 + 1 + 1 + 1) / 5 = 0.8 and spam's 0.4 (8 each): 0.6, above the start 0.
  # Scratch passes it at iteration 1, auto's spam at 3: 2 more on all 8 seeds, p = 2 / 2^8.
  automatic = toy_experiment()
  automatic.update(name="auto", methods=["scratch", "spam"], primary=[["spam", "scratch"]])
  del automatic["target_copy"]
  automatic["target_scratch"] = stage([[0.0, 1.0, 1.0, 1.0, 1.0]] * 8)
  automatic["target_spam"] = stage([[0.0, 0.0, 0.0, 1.0, 1.0]] * 8)
  automatic["target_spam"]["auto_map_per_seed"] = [
      {"chosen": "nothing", "map": None, "charged_env_steps": 200, "verdict": "worse than nothing"}] * 8
  automatic["target_spam"]["start_cost_iterations_per_seed"] = [0.5] * 8
  root = write_summary(str(tmp_path / "root"), {"auto": automatic})
  text_ = open(report.write(root, str(tmp_path / "out"), reps=100)).read()
  assert "| auto | the fallback threshold 0.6 (fewer than half of the runs reach the criterion 10" in text_
  assert "- auto spam vs scratch: primary, its verdict in the answer" in text_
  assert "| auto | `spam` vs `scratch` | 0.6† | -2.0 [-2.0, -2.0] | slower (0.0078) |  |" in text_


def test_a_committed_report_judges_each_comparison_once():
  """Every REPORT.md under docs/results made by today's rules (it opens with its primary
  comparisons): a verdict appears only in the answer's table, once per comparison."""
  import glob
  import re
  import spam_tf
  reports = [p for p in glob.glob(os.path.join(spam_tf.REPO_DIR, "docs", "results", "**", "REPORT.md"), recursive=True)
             if open(p).read().split("\n")[2].startswith("This report answers")]
  assert reports, "no committed report opens with its primary comparisons"
  for path in reports:
    text_ = open(path).read()
    verdict_rows = [line for line in text_.splitlines() if re.search(r"\| (faster|slower|no difference) \(", line)]
    keys = [tuple(cell.strip() for cell in line.strip("|").split("|")[:2]) for line in verdict_rows]
    assert keys and len(keys) == len(set(keys)), path
    answer = text_[:text_.index("## How this report was made")]
    assert all(line in answer for line in verdict_rows), path
    assert not re.search(r"\*\*(better|worse|no difference)\*\*|Holm-adjusted p = ", text_), path
