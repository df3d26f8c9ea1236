"""What the autoencoder and f2 did to the weights, read from the units' saved weights.

Per layer what the reconstruction zeroed and copied of M*, and the paper's zero
and sparsity ratios (Defs. 4.1, 4.2) per magnitude counted as zero and per
iteration of f2 at which they are measured.
"""
import json
import os

from spam_tf import files
from spam_tf.analysis import statistics as st
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
