"""The report's section beyond the paper: start points decoded by a genome autoencoder.

Experiments of one pair at several code sizes form a group; each compression-based
start is compared with every start without a genome autoencoder, and the start
picked on a tuning sweep's seeds is judged on the reported ones.
"""
import json
import os
import re

import numpy as np

from spam_tf import files
from spam_tf.analysis import figures
from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st
from spam_tf.analysis import text
from spam_tf.analysis.text import GENOME_VARIANTS, interval

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
  ran ("versus": {other: spam_tf.analysis.paired.compare}), Holm-corrected over all of the
  group's. Also the no-compression starts' speed-ups: {method: (iqm, low, high)}."""
  first = group[0][1]
  dim = first["genome"]["dim"]
  candidates, references, family = {}, {}, {}
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
      versus = {other: paired.compare(scores[method]["iterations"], scores[other]["iterations"])
                for other in scores if other not in GENOME_VARIANTS and other != method}
      family.update({(key, other): test for other, test in versus.items()})
      candidates[key] = {"compression": dim / code_sizes[method], "speedup": speedup, "versus": versus}
  paired.judge(family)
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
  figure = f"genome_{names[0]}.png"
  scores, _, _ = scores_lib.experiment_scores(first)
  figures.genome_figure(candidates, references, f"{first['source']} → {first['target']}: start points by compression",
                os.path.join(out_dir, figure), ceiling=st.iqm_interval(scores["scratch"]["iterations"], reps)[0])
  others = sorted({o for row in candidates.values() for o in row["versus"]},
                  key=lambda m: ({"scratch": 0, "copy": 1}.get(m, 2), m))
  lines = [f"### {label}", "", f"![genome: {label}]({figure})", "",
           "Each compression-based start against every start without a genome autoencoder: paired "
           "difference in iterations to the maximum (mean over seeds, negative: faster) with its 95% "
           "interval, and the Holm-corrected verdict; and the iterations it saves over scratch (IQM over "
           "seeds, as in the figure):", "",
           "| start | code size | compression | saved vs scratch IQM [CI] | " + " | ".join(f"vs {o}" for o in others) + " |",
           "|---" * (4 + len(others)) + "|"]
  for (method, code), row in sorted(candidates.items(), key=lambda item: (item[0][0] != "spam", item[0])):
    cells = [f"{paired.text(row['versus'][o])} {row['versus'][o]['verdict']}" if o in row["versus"] else "—"
             for o in others]
    lines.append(f"| {method} | {code} | {row['compression']:.0f}x | {interval(*row['speedup'])} | "
                 + " | ".join(cells) + " |")
  lines += ["", "The genome autoencoders (mean over seeds; relative error ||w' - w|| / ||w||, in the zoo's "
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
  lines += ["", text.genome_verdict(candidates, len(first["seeds"])) + text.at_maximum_sentence(scores)]
  if tuning_root_dir:
    lines += ["", text.pick_verdict(genome_pick(tuning_root_dir, names, reps), candidates, tuning_root_dir)]
  return lines + [""]
