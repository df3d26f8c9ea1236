"""The report's figures (PNG, matplotlib's Agg backend): curves, profiles, sparsity, genome."""
import numpy as np

from spam_tf.analysis import statistics as st
from spam_tf.spam.genome import GENOME_METHODS as GENOME_VARIANTS

COLORS = {"scratch": "#444444", "spam": "#d62728", "copy": "#1f77b4", "prune": "#2ca02c",
          "relu": "#ff7f0e", "relu_prune": "#9467bd", "noise": "#8c564b", "expert": "#17becf"}
COLORS.update({"genome": "#e377c2", "genome_mean": "#17becf", "genome_sample": "#bcbd22",
               "zoo_mean": "#393b79"})


def _plt():
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def _finish(plt, fig, ax, title, legend_title, path):
  """Title, grid, and the legend outside the axes (it never covers a curve); saves to path."""
  ax.set_title(title, fontsize=10)
  ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, title=legend_title, title_fontsize=9)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def curve_figure(curves_by_label, scale, title, path, reps):
  """Mean normalised eval return per iteration (scores.Scale: 0 = a random policy, 1 = the
  success criterion) with its 95% bootstrap band, one line per label; the y-axis spans the
  data and both reference lines. curves_by_label: {label: [seeds, T]} raw returns."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.8), dpi=120)
  lowest, highest = 0.0, 1.0
  for label, curves in curves_by_label.items():
    mean, low, high = st.mean_band(scale.normalize(curves), reps)
    x = np.arange(len(mean))
    color = COLORS.get(label)
    width = 2.4 if label == "spam" else 1.4
    ax.plot(x, mean, label=label, color=color, linewidth=width)
    ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
    lowest, highest = min(lowest, float(np.min(low))), max(highest, float(np.max(high)))
  for level, name in ((1.0, f"criterion ({scale.criterion:g})"), (0.0, f"random policy ({scale.floor:.1f})")):
    ax.axhline(level, color="black", linestyle="--" if level else ":", linewidth=0.8)
    ax.text(0, level, f" {name}", va="bottom", fontsize=8)
  ax.set_xlabel("iteration (the paper's timestep)")
  ax.set_ylabel("normalised greedy eval return (mean over seeds)")
  margin = 0.05 * (highest - lowest)
  ax.set_ylim(bottom=lowest - margin, top=highest + margin)
  ax.xaxis.get_major_locator().set_params(integer=True)
  _finish(plt, fig, ax, title, "start point", path)


def profile_figure(iterations, budget, title, path, reps):
  """Performance profile: fraction of seeds at the criterion by each iteration, with its 95%
  band, one line per method. iterations: {method: [seeds]}."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.0), dpi=120)
  for method, (fraction, low, high) in st.reached_by_profile(iterations, budget, reps).items():
    x = np.arange(budget + 1)
    color = COLORS.get(method)
    ax.step(x, fraction, where="post", label=method, color=color, linewidth=2.4 if method == "spam" else 1.4)
    ax.fill_between(x, low, high, step="post", color=color, alpha=0.12, linewidth=0)
  ax.set_xlabel("iteration")
  ax.set_ylabel("fraction of seeds that have\nreached the criterion")
  ax.set_ylim(-0.02, 1.02)
  ax.xaxis.get_major_locator().set_params(integer=True)
  _finish(plt, fig, ax, title, "start point", path)


def sparsity_figure(table, paper_ratio, title, path):
  """Sparsity ratio against the iteration it is measured at, one line (IQM) with its 95%
  band per tolerance; the paper's ratio dashed. table: from sparsity_along_training."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.0), dpi=120)
  colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(table)))
  for color, (tol, by_iteration) in zip(colors, table.items()):
    points = [(i, v) for i, v in by_iteration.items() if v is not None]
    if not points:
      continue
    x = [i for i, _ in points]
    iqm, low, high = (np.array([v[k] for _, v in points]) for k in range(3))
    ax.plot(x, iqm, marker="o", markersize=3, color=color, label="exact zeros" if tol == 0 else f"|w| ≤ {tol:g}")
    ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
  if paper_ratio is not None:
    ax.axhline(paper_ratio, color="black", linestyle="--", linewidth=0.8)
    ax.text(1, paper_ratio, f" paper: {paper_ratio}", va="bottom", fontsize=8)
  ax.set_xscale("log")
  iterations = sorted({i for by_iteration in table.values() for i in by_iteration})
  ax.set_xticks(iterations, [str(i) for i in iterations])
  ax.xaxis.set_minor_locator(plt.NullLocator())
  ax.set_xlabel("iteration of f2 at which the ratio is measured (log scale)")
  ax.set_ylabel("sparsity ratio (Def. 4.2)")
  ax.set_ylim(0, max(1.05, ax.get_ylim()[1]))  # Def. 4.2 can exceed 1: zeros appear elsewhere
  _finish(plt, fig, ax, title, "counted as zero", path)


def genome_figure(candidates, references, title, path, ceiling=None):
  """Speed-up over scratch (IQM, 95% CI) against the compression ratio d / code size:
  a line per genome variant, SPAM's single-expert point, the uncompressed starts dotted,
  and the ceiling (a start at the criterion before training) dashed."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(10.5, 4.6), dpi=120)
  # Offsets keep error bars apart (SPAM's 128-unit code is genome's 128 at the same ratio).
  for offset, method in zip((0.94, 0.98, 1.02, 1.06), GENOME_VARIANTS + ("spam",)):
    rows = sorted((row["compression"], row["speedup"]) for (m, _), row in candidates.items() if m == method)
    if not rows:
      continue
    x = np.array([c for c, _ in rows]) * offset
    iqm, low, high = (np.array([v[k] for _, v in rows]) for k in range(3))
    ax.errorbar(x, iqm, yerr=[iqm - low, high - iqm], marker="o", capsize=3, color=COLORS.get(method),
                linewidth=2.0 if method != "spam" else 0, elinewidth=1.2, label=method)
  for method, (iqm, _, _) in references.items():
    ax.axhline(iqm, color=COLORS.get(method), linestyle=":", linewidth=1.2,
               label=f"{method} (no compression): {iqm:.1f}")
  if ceiling is not None:
    ax.axhline(ceiling, color="gray", linestyle="--", linewidth=1.0,
               label=f"ceiling (at the criterion from the start): {ceiling:.1f}")
  ax.axhline(0, color="black", linewidth=0.8)
  ax.text(0, 0, " scratch", va="bottom", fontsize=8, transform=ax.get_yaxis_transform())
  ax.set_xscale("log")
  ratios = sorted({row["compression"] for row in candidates.values()})
  ax.set_xticks(ratios, [f"{r:.0f}x" for r in ratios])
  ax.xaxis.set_minor_locator(plt.NullLocator())
  ax.set_xlabel("compression ratio d / code size (log scale)")
  ax.set_ylabel("iterations saved vs scratch\n(IQM over seeds, 95% CI)")
  _finish(plt, fig, ax, title, "start point", path)
