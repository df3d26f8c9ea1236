"""The report's section beyond the paper: start points decoded by a genome autoencoder.

Experiments of one pair at several code sizes form a group; each compression-based
start is compared with every start without a genome autoencoder, exploratory (mean,
unadjusted interval, raw p). The verdicts are the primary family declared by this
study's rule before its confirming run: the start picked on a tuning sweep's seeds
(--tuning_root_dir, other seeds) against each of PICK_REFERENCES the experiments ran,
Holm-corrected over those.
"""
import json
import os
import re

import numpy as np

from spam_tf import files
from spam_tf.analysis import figures
from spam_tf.analysis import paired
from spam_tf.analysis import primary
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st
from spam_tf.analysis.formats import WORDS, interval, saved, saved_exploratory
from spam_tf.spam.genome import GENOME_METHODS as GENOME_VARIANTS

# The tuning pick's primary comparisons: scratch, the strongest start without any
# autoencoder in the paper's sweep, and the genome starts' own control (the zoo's mean).
PICK_REFERENCES = ("scratch", "relu_prune", "zoo_mean")

_CODE_SIZE = re.compile(r"^build_genome_autoencoder\.code_size = .*$", re.M)


def genome_groups(experiments):
  """Genome experiments grouped by everything but their code size (the same pair, seeds,
  genome settings, and the same units for their other methods), each group sorted by
  code size. Returns [[(name, experiment)]]; raises ValueError if two experiments of a
  group have the same code size (they would differ in something this report cannot show)."""
  groups = {}
  for name, experiment in experiments.items():
    if "genome" in experiment:
      others = [m for m in experiment["methods"] if m not in GENOME_VARIANTS]
      settings = _CODE_SIZE.sub("", experiment["genome"]["config"])
      key = json.dumps([experiment["source"], experiment["target"], experiment["seeds"], settings]
                       + [experiment[f"target_{m}"]["run_dirs"] for m in others])
      groups.setdefault(key, []).append((name, experiment))
  for group in groups.values():
    sizes = [experiment["genome"]["code_size"] for _, experiment in group]
    if len(set(sizes)) < len(sizes):
      raise ValueError(f"experiments {[name for name, _ in group]} share a code size but nothing tells "
                       f"them apart in the report: give them different code sizes or other methods")
  return [sorted(group, key=lambda item: item[1]["genome"]["code_size"]) for group in groups.values()]


def genome_candidates(root_dir, group, reps):
  """Every compression-based start of a group: {(method, code size): row} with its
  compression ratio, speed-up over scratch (scratch's iterations - its own, per seed:
  IQM [CI]) and its paired test in iterations against each other start the experiment
  ran ("versus": {other: spam_tf.analysis.paired.compare}, exploratory). Also the
  no-compression starts' speed-ups: {method: (iqm, low, high)}."""
  first = group[0][1]
  dim = first["genome"]["dim"]
  candidates, references = {}, {}
  for index, (_, experiment) in enumerate(group):
    scores, _, _ = scores_lib.experiment_scores(experiment)
    if "scratch" not in scores:  # no speed-up to measure
      continue
    code_sizes = {variant: experiment["genome"]["code_size"] for variant in GENOME_VARIANTS}
    if "spam" in scores:
      code_sizes["spam"] = files.read_json(os.path.join(
          root_dir, experiment["autoencoder"]["run_dirs"][0], "result.json"))["code_dim"]
    # The other methods' units are the same in every experiment of a group: scored once.
    for method in [m for m in scores if m != "scratch" and (index == 0 or m in GENOME_VARIANTS)]:
      speedup = st.iqm_interval(scores["scratch"]["iterations"] - scores[method]["iterations"], reps)
      if method not in code_sizes:
        references[method] = speedup
        continue
      key = (method, code_sizes[method])
      versus = {other: paired.compare(scores[method]["iterations"], scores[other]["iterations"],
                                      label=f"{method} (code size {key[1]}) vs {other}")
                for other in scores if other not in GENOME_VARIANTS and other != method}
      candidates[key] = {"compression": dim / code_sizes[method], "speedup": speedup, "versus": versus}
  return candidates, references


def check_tuning_root(root_dir, tuning_root_dir):
  """A tuning sweep must be finished and share no seed with the reported one."""
  if not os.path.isfile(os.path.join(tuning_root_dir, "summary.json")):
    raise ValueError(f"no summary.json in {tuning_root_dir}: run (or finish) the sweep first")
  shared = sorted(set(scores_lib.seeds_of(scores_lib.load(root_dir)[0])) & set(scores_lib.seeds_of(scores_lib.load(tuning_root_dir)[0])))
  if shared:
    raise ValueError(f"--tuning_root_dir shares seeds {shared} with --root_dir: tune on other seeds")


def genome_pick(tuning_root_dir, names, reps):
  """The genome start (variant and code size) with the largest IQM speed-up over scratch in
  the tuning sweep's group of the same experiment names (other seeds), as (method, code
  size), or None. SPAM is no candidate: the code size is what is tuned."""
  experiments, _ = scores_lib.load(tuning_root_dir)
  for group in genome_groups(experiments):
    if [name for name, _ in group] == names:
      candidates, _ = genome_candidates(tuning_root_dir, group, reps)
      candidates = {key: row for key, row in candidates.items() if key[0] in GENOME_VARIANTS}
      return max(candidates, key=lambda key: (candidates[key]["speedup"][0], candidates[key]["speedup"][1],
                                              -candidates[key]["compression"]), default=None)
  return None


def genome_lines(root_dir, out_dir, group, reps, tuning_root_dir=None):
  names = [name for name, _ in group]
  first = group[0][1]
  candidates, references = genome_candidates(root_dir, group, reps)
  label = f"{first['source']} → {first['target']} ({', '.join(names)})"
  if not candidates:
    return [f"### {label}", "", "No scratch runs in these experiments: no speed-up to measure.", ""]
  figure = f"genome_{first['source'].split('-v')[0]}_to_{first['target'].split('-v')[0]}_by_code_size.png"
  scores, _, _ = scores_lib.experiment_scores(first)
  figures.genome_figure(candidates, references, f"{first['source']} → {first['target']}: start points by compression",
                        os.path.join(out_dir, figure), ceiling=st.iqm_interval(scores["scratch"]["iterations"], reps)[0])
  lines = [f"### {label}", ""]
  if tuning_root_dir:
    lines += [pick_lines(genome_pick(tuning_root_dir, names, reps), group, tuning_root_dir), ""]
  lines += [f"![genome: {label}]({figure})", "", *_candidate_table(candidates), *_autoencoder_table(group)]
  return lines + [at_maximum_sentence(scores).strip(), ""]


def _candidate_table(candidates):
  others = sorted({o for row in candidates.values() for o in row["versus"]},
                  key=lambda m: ({"scratch": 0, "copy": 1}.get(m, 2), m))
  lines = ["Each compression-based start against every start without a genome autoencoder, exploratory (no "
           "verdict): iterations saved (positive: the compression-based start is faster), mean over seeds "
           "with its unadjusted 95% interval and raw p; and the iterations it saves over scratch (IQM over "
           "seeds, as in the figure):", "",
           "| start | code size | compression | saved vs scratch IQM [CI] | " + " | ".join(f"vs {o}" for o in others) + " |",
           "|---" * (4 + len(others)) + "|"]
  for (method, code), row in sorted(candidates.items(), key=lambda item: (item[0][0] != "spam", item[0])):
    cells = [saved_exploratory(row["versus"][o]) if o in row["versus"] else "—" for o in others]
    lines.append(f"| {method} | {code} | {row['compression']:.0f}x | {interval(*row['speedup'])} | "
                 + " | ".join(cells) + " |")
  return lines + [""]


def _autoencoder_table(group):
  lines = ["The genome autoencoders (mean over seeds; relative error ||w' - w|| / ||w||, in the zoo's "
           "hidden-unit order). The validation experts are zoo experts kept out of training but used to "
           "stop it (so their error is the best over epochs); M* never touched the autoencoder:", "",
           "| code size | compression | zoo networks: training (validation) | error on validation experts | "
           "the zoo's mean weights as a guess | error on M* | dead outputs | best epoch |",
           "|---|---|---|---|---|---|---|---|"]
  for _, experiment in group:
    g = experiment["genome"]
    lines.append(f"| {g['code_size']} | {g['compression_ratio']:.0f}x | {g['zoo_members']} ({g['held_out_members']}) | "
                 f"{np.mean(g['held_out_relative_error']):.3f} | {np.mean(g['held_out_mean_guess_error']):.3f} | "
                 f"{np.mean(g['expert_relative_error']):.3f} | {np.mean(g['dead_output_fraction']):.3f} | "
                 f"{np.mean(g['best_epoch']):.0f} |")
  return lines + [""]


def pick_family(pick, group):
  """The tuning pick's primary comparisons on these seeds: {reference: paired.judge()'s
  dict} against each of PICK_REFERENCES the experiment of its code size ran (Holm over
  them); {} if the pick did not run here."""
  method, code = pick
  experiment = next((e for _, e in group if e["genome"]["code_size"] == code and method in e["methods"]), None)
  if experiment is None:
    return {}
  scores, _, _ = scores_lib.experiment_scores(experiment)
  family = {r: paired.compare(scores[method]["iterations"], scores[r]["iterations"], label=f"pick {method} vs {r}")
            for r in PICK_REFERENCES if r in scores}
  return paired.judge(family) if family else {}


def pick_judged(experiments, tuning_root_dir, reps):
  """{"<first experiment of a group> (tuning pick)": primary.Judged} of every genome group's
  tuning pick, for the report's answer: its comparisons keyed ("<method> (code size <n>)",
  reference), each with the Scale its iterations count to."""
  found = {}
  for group in genome_groups(experiments) if tuning_root_dir else []:
    pick = genome_pick(tuning_root_dir, [name for name, _ in group], reps)
    family = pick_family(pick, group) if pick else {}
    if family:
      scale = scores_lib.scale_of(group[0][1])
      found[f"{group[0][0]} (tuning pick)"] = primary.Judged(
          comparisons={(f"{pick[0]} (code size {pick[1]})", r): {**c, "scale": scale} for r, c in family.items()})
  return found


def pick_lines(pick, group, tuning_root_dir):
  """The primary verdicts of the start picked on the tuning seeds, as one paragraph."""
  if pick is None:
    return f"The tuning sweep in `{tuning_root_dir}` has no group of these experiments: no pick, no verdict."
  family = pick_family(pick, group)
  if not family:
    return f"The start picked on the tuning seeds, `{pick[0]}` with code size {pick[1]}, did not run here: no verdict."
  results = "; ".join(f"vs `{r}` {WORDS[c['verdict']]}, {saved(c)} iterations saved (Holm p = {c['p_adjusted']:.2g}"
                      + (f"; {paired.detectable_text(c)}" if c["verdict"] == "no difference" else "") + ")"
                      for r, c in family.items())
  return (f"**The answer for this pair** (primary: the start picked on the tuning seeds of `{tuning_root_dir}`, "
          f"seeds disjoint from these, against {', '.join(f'`{r}`' for r in family)}, Holm-corrected): "
          f"`{pick[0]}` with code size {pick[1]}: {results}.")


def at_maximum_sentence(scores):
  """' ...' naming the starts without a genome autoencoder that are at the criterion
  before any training on every seed (no start can be faster than those), or ''."""
  at_start = [f"`{m}`" for m, s in scores.items()
              if m not in GENOME_VARIANTS and m != "spam" and len(s["iterations"]) and np.all(s["iterations"] == 0)]
  if not at_start:
    return ""
  return (f" On this pair {', '.join(at_start)} {'is' if len(at_start) == 1 else 'are'} at the criterion before "
          f"any training on every seed: no start can reach it faster, only as fast (the ceiling in the figure).")
