"""The report's sparsity section: what the autoencoder and f2 did to the weights, read
from the units' saved weights.

Per layer what the reconstruction zeroed and copied of M*, and the paper's zero
and sparsity ratios (Defs. 4.1, 4.2) per magnitude counted as zero and per
iteration of f2 at which they are measured: tables, a figure, and the sentences that
set them beside the paper's ratios.
"""
import json
import os

from spam_tf import files
from spam_tf.analysis import figures
from spam_tf.analysis import statistics as st
from spam_tf.analysis.formats import fmt, interval
from spam_tf.rl import snapshots
from spam_tf.rl import weights as weights_lib
from spam_tf.spam import autoencoder
from spam_tf.spam import metrics

TOLERANCES = (0.0, 1e-6, 1e-4, 1e-3, 1e-2)


def reconstruction_table(root_dir, experiment):
  """Mean over seeds, per layer: negatives zeroed, positives copied, positives zeroed
  (statistics.reconstruction_breakdown), and the head bias's mean absolute change."""
  ae_dirs = experiment["autoencoder"]["run_dirs"]
  rows = {}
  for expert_dir, ae_dir in zip(experiment["source_expert"]["run_dirs"], ae_dirs):
    expert_result = files.read_json(os.path.join(root_dir, expert_dir, "result.json"))
    shapes = [tuple(s) for s in expert_result["weight_shapes"]]
    expert = snapshots.load(os.path.join(root_dir, expert_dir), "final")
    reconstruction = autoencoder.load_reconstruction(os.path.join(root_dir, ae_dir))
    expert_arrays = weights_lib.unflatten(expert, shapes)
    rec_arrays = weights_lib.unflatten(reconstruction, shapes)
    for role, e, r in zip(weights_lib.roles(len(shapes), expert_result["discrete"]), expert_arrays, rec_arrays):
      rows.setdefault(role, []).append(st.reconstruction_breakdown(e.ravel(), r.ravel()))
  return {role: {key: st.mean_or_none([b[key] for b in items]) for key in items[0]}
          for role, items in rows.items()}


def sparsity_along_training(root_dir, stage_summary, reps):
  """Sparsity ratio (Def. 4.2) of the weights after each kept iteration of f2, per magnitude
  tolerance: {tol: {iteration: (iqm, lo, hi) or None}}, over the iterations every seed kept
  (runs made before weight snapshots existed have only the start and the final weights)."""
  along = [snapshots.along_training(os.path.join(root_dir, d)) for d in stage_summary["run_dirs"]]
  iterations = sorted(set.intersection(*(set(a) for a in along)) - {0})
  table = {}
  for tol in TOLERANCES:
    table[tol] = {}
    for iteration in iterations:
      ratios = [metrics.sparsity_ratio(a[0], a[iteration], tol) for a in along]
      ratios = [r for r in ratios if r is not None]
      table[tol][iteration] = st.iqm_interval(ratios, reps) if ratios else None
  return table


def sparsity_by_tolerance(root_dir, stage_summary, reps):
  """Zero ratio of the start point and sparsity ratio (Def. 4.2) per magnitude tolerance:
  {tol: {"zero_ratio": (iqm, lo, hi), "sparsity_ratio": (iqm, lo, hi)}}."""
  run_dirs = [os.path.join(root_dir, d) for d in stage_summary["run_dirs"]]
  starts = [snapshots.load(d, "start") for d in run_dirs]
  finals = [snapshots.load(d, "final") for d in run_dirs]
  table = {}
  for tol in TOLERANCES:
    zero = [metrics.zero_ratio(s, tol) for s in starts]
    sparsity = [metrics.sparsity_ratio(s, f, tol) for s, f in zip(starts, finals)]
    kept = [metrics.zeros_kept_fraction(s, f, tol) for s, f in zip(starts, finals)]
    sparsity, kept = [x for x in sparsity if x is not None], [x for x in kept if x is not None]
    table[tol] = {"zero_ratio": st.iqm_interval(zero, reps),
                  "sparsity_ratio": st.iqm_interval(sparsity, reps) if sparsity else None,
                  "zeros_kept": st.iqm_interval(kept, reps) if kept else None}
  return table


def f2_learning_rate(root_dir, stage_summary):
  """f2's initial learning rate, from the first unit's identity.json (its effective
  config), or None where the unit records none (made before identities did)."""
  family_dir = os.path.dirname(os.path.join(root_dir, stage_summary["run_dirs"][0]))
  path = os.path.join(family_dir, "identity.json")
  if not os.path.isfile(path):
    return None
  config = json.loads(files.read_json(path)["identity"])["effective_config"]
  agent = config.get("target/make_agent", {}).get("algorithm", "reinforce")
  return config.get(f"target/{agent}_agent", {}).get("learning_rate")


def lines(root_dir, out_dir, name, experiment, paper, reps):
  """What the autoencoder did to M* per layer, and SPAM's sparsity per tolerance and along f2."""
  ae = experiment["autoencoder"]
  out = ["What the reconstruction is (mean over seeds), per layer of M*:", "",
         "| layer | negatives zeroed | positives copied (within 1%) | positives zeroed |", "|---|---|---|---|"]
  for role, row in reconstruction_table(root_dir, experiment).items():
    out.append(f"| {role} | {fmt(row['negative_zeroed'], 2)} | {fmt(row['positive_copied'], 2)} | "
               f"{fmt(row['positive_zeroed'], 2)} |")
  out += ["", f"Autoencoder: reconstruction MSE {ae['reconstruction_mse']:.4f}, zero ratio (Def. 4.1) "
          f"per seed IQM {interval(*st.iqm_interval(ae['zero_ratio_per_seed'], reps), digits=3)}"
          + (f" (paper {paper['zero_ratio']})" if "zero_ratio" in paper else "") + ".", ""]
  if "target_spam" in experiment:
    out += ["Sparsity of SPAM's start point and after f2, by the magnitude counted as zero "
            "(the paper's definitions count exact zeros: tolerance 0):", "",
            "| tolerance | zero ratio of the start [CI] | sparsity ratio (Def. 4.2) [CI] | zeros kept [CI] |",
            "|---|---|---|---|"]
    for tol, row in sparsity_by_tolerance(root_dir, experiment["target_spam"], reps).items():
      ratio, kept = (interval(*row[k], digits=3) if row[k] else "—" for k in ("sparsity_ratio", "zeros_kept"))
      out.append(f"| {'exact' if tol == 0 else f'{tol:g}'} | {interval(*row['zero_ratio'], digits=3)} | "
                 f"{ratio} | {kept} |")
    if "sparsity_ratio" in paper:
      out.append(f"\nThe paper reports a sparsity ratio of {paper['sparsity_ratio']}.")
    out += [""] + along_lines(root_dir, out_dir, name, experiment, paper, reps)
  return out


def along_lines(root_dir, out_dir, name, experiment, paper, reps):
  """The sparsity ratio per iteration of f2 and tolerance: a figure, a table, a sentence."""
  table = sparsity_along_training(root_dir, experiment["target_spam"], reps)
  iterations = list(table[0.0])
  figure = f"{name}_sparsity_along_f2.png"
  figures.sparsity_figure(table, paper.get("sparsity_ratio"), f"{name}: sparsity ratio of SPAM's weights along f2",
                          os.path.join(out_dir, figure))
  out = ["Sparsity ratio (Def. 4.2) by the iteration of f2 at which it is measured (rows) and the "
         "magnitude counted as zero (columns), IQM [95% CI] over seeds:", "",
         f"![{name}: sparsity along training]({figure})", "",
         "| iteration | " + " | ".join("exact" if t == 0 else f"≤ {t:g}" for t in table) + " |",
         "|---" * (len(table) + 1) + "|"]
  for iteration in iterations:
    cells = [interval(*table[t][iteration], digits=2) if table[t][iteration] else "—" for t in table]
    out.append(f"| {iteration} | " + " | ".join(cells) + " |")
  if "sparsity_ratio" in paper:
    out += ["", paper_sentence(table, paper["sparsity_ratio"]) + " " + artefact_sentence(
        table, paper["sparsity_ratio"], f2_learning_rate(root_dir, experiment["target_spam"]))]
  return out + [""]


def paper_sentence(table, paper_ratio):
  """Where (iteration of f2, tolerance) this project's IQM reaches the paper's sparsity ratio."""
  reached = [f"iteration {i} with {'exact zeros' if tol == 0 else f'|w| ≤ {tol:g}'}"
             for tol, by_iteration in table.items() for i, v in by_iteration.items()
             if v is not None and v[0] >= paper_ratio]
  return (f"The paper's sparsity ratio ({paper_ratio}) is reached (IQM) "
          + (f"only at: {'; '.join(reached)}." if reached else "at no iteration and tolerance measured here."))


def artefact_sentence(table, paper_ratio, learning_rate):
  """Why iteration 1 with |w| <= 0.01 says nothing, and the sparsity ratio where the
  tolerance is below f2's learning rate and f2 has taken at least 2 steps.
  table: {tol: {iteration: (iqm, low, high) or None}}; learning_rate: f2's, or None."""
  step = f"{learning_rate:g}" if learning_rate else "the learning rate"
  below = [tol for tol in table if learning_rate is None and tol <= 1e-3 or learning_rate and tol < learning_rate]
  cells = [(v[0], i, tol) for tol in below for i, v in table[tol].items() if i >= 2 and v is not None]
  sentence = (f"Adam's first step moves every weight by at most about the learning rate ({step}), so after "
              f"iteration 1 every zero of the start point is still within 0.01 of zero whatever f2 does: a "
              f"ratio measured there with |w| ≤ 0.01 shows the optimiser's step size, not kept sparsity.")
  if not cells:
    return sentence
  best, iteration, tol = max(cells)
  return (sentence + f" From iteration 2 on, with tolerances below the learning rate (up to |w| ≤ "
          f"{max(below):g}), the sparsity ratio is at most {best:.2f} (IQM, at iteration {iteration} with "
          f"{'exact zeros' if tol == 0 else f'|w| ≤ {tol:g}'}), against the paper's {paper_ratio}.")
