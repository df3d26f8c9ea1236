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


BANDS = {"mean": "shaded: 95% bootstrap band\nof the mean (seeds resampled)",
         "profile": "shaded: 95% stratified-\nbootstrap band (rliable)",
         "iqm": "shaded: 95% stratified-bootstrap\nCI of the IQM (rliable)"}
SAME = 1e-9  # lines whose points all differ by at most this are one line (sparsity_figure)


def _finish(plt, fig, ax, title, legend_title, path, notes=()):
  """Title, grid, and the legends outside the axes (they never cover a curve): the lines'
  (legend_title), then below it `notes`, [(artist, text)] of the reference lines and bands;
  saves to path. Returns every legend entry's text, in order."""
  ax.set_title(title, fontsize=10)
  ax.grid(alpha=0.3)
  legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, title=legend_title, title_fontsize=9)
  legends = [legend]
  if notes:
    ax.add_artist(legend).set_clip_on(False)  # add_artist clips to the axes: the layout would cut it off
    fig.tight_layout()
    fig.canvas.draw()  # the first legend's height, to stack the second under it
    below = legend.get_window_extent().transformed(ax.transAxes.inverted()).y0
    legends.append(ax.legend([a for a, _ in notes], [t for _, t in notes], loc="upper left",
                             bbox_to_anchor=(1.01, below - 0.03), fontsize=8))
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return [text.get_text() for legend_ in legends for text in legend_.get_texts()]


def _band(name):
  """A legend entry that names the shaded bands (BANDS[name])."""
  from matplotlib.patches import Patch  # pylint: disable=import-outside-toplevel  (slow import)
  return Patch(facecolor="gray", alpha=0.3, linewidth=0), BANDS[name]


def _reference(ax, level, text, **style):
  """A horizontal reference line, named in the legend (notes) rather than by text on the axes."""
  return ax.axhline(level, linewidth=0.8, **style), text


def curve_figure(curves_by_label, scale, title, path, reps, threshold=None, delays=None):
  """Mean normalised eval return per iteration (scores.Scale: 0 = a random policy, 1 = the
  success criterion) with its 95% bootstrap band, one line per label; the y-axis spans the
  data and the reference lines. curves_by_label: {label: [seeds, T]} raw returns;
  threshold: a raw return, the fallback threshold a time-to-threshold cell used (drawn
  unless it is the criterion); delays: {label: mean charged delay in iterations} (an
  automatic map's probe; the curves already hold the start that long): a bar from 0 to
  the delay at the label's mean start return. Returns the legends' texts."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.8), dpi=120)
  notes = [_reference(ax, 1.0, f"criterion ({scale.criterion:g})", color="black", linestyle="--"),
           _reference(ax, 0.0, f"random policy ({scale.floor:.1f})", color="black", linestyle=":")]
  if threshold is not None and threshold != scale.criterion:
    level = float(scale.normalize(threshold))
    notes.append(_reference(ax, level, f"fallback threshold ({threshold:.1f})", color="dimgray", linestyle="-."))
  levels = [float(line.get_ydata()[0]) for line, _ in notes]
  lowest, highest = min(levels), max(levels)
  for label, curves in curves_by_label.items():
    mean, low, high = st.mean_band(scale.normalize(curves), reps)
    x = np.arange(len(mean))
    color = COLORS.get(label)
    line, = ax.plot(x, mean, label=label, color=color, linewidth=2.4 if label == "spam" else 1.4)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    lowest, highest = min(lowest, float(np.min(low))), max(highest, float(np.max(high)))
    delay = (delays or {}).get(label) or 0.0
    if delay > 0:
      bar, = ax.plot([0, delay], [mean[0]] * 2, color=line.get_color(), linewidth=6, alpha=0.6, solid_capstyle="butt",
                     marker="o", markersize=8, markevery=[1], markerfacecolor="white", markeredgewidth=1.6)
      notes.append((bar, f"{label}: probe cost {delay:.2g} it."))
  notes.append(_band("mean"))
  ax.set_xlabel("iteration (the paper's timestep)")
  ax.set_ylabel("normalised greedy eval return (mean over seeds)")
  margin = 0.05 * (highest - lowest)
  ax.set_ylim(bottom=lowest - margin, top=highest + margin)
  ax.xaxis.get_major_locator().set_params(integer=True)
  return _finish(plt, fig, ax, title, "start point", path, notes)


def profile_figure(iterations, budget, title, path, reps):
  """Performance profile: fraction of seeds at the criterion by each iteration, with its 95%
  stratified-bootstrap band (rliable), one line per method. iterations: {method: [seeds]}.
  Returns the legends' texts."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.0), dpi=120)
  for method, (fraction, low, high) in st.reached_by_profile(iterations, budget, reps).items():
    x = np.arange(budget + 1)
    color = COLORS.get(method)
    line, = ax.step(x, fraction, where="post", label=method, color=color, linewidth=2.4 if method == "spam" else 1.4)
    ax.fill_between(x, low, high, step="post", color=line.get_color(), alpha=0.12, linewidth=0)
  ax.set_xlabel("iteration")
  ax.set_ylabel("fraction of seeds that have\nreached the criterion")
  ax.set_ylim(-0.02, 1.02)
  ax.xaxis.get_major_locator().set_params(integer=True)
  return _finish(plt, fig, ax, title, "start point", path, [_band("profile")])


def coincident(series, tolerance=SAME):
  """Groups of the keys whose lines are one: the same x and every value within `tolerance`.
  series: {key: (x [n], values [..., n])} -> [[key, ...]], first-seen order throughout."""
  groups = []
  for key, (x, values) in series.items():
    for group in groups:
      x0, values0 = series[group[0]]
      if (list(x0) == list(x) and np.shape(values0) == np.shape(values)
          and np.allclose(values0, values, rtol=0.0, atol=tolerance)):
        group.append(key)
        break
    else:
      groups.append([key])
  return groups


def _short(tol):
  """A tolerance in short: one significant digit in e notation (1e-06 -> "1e-6", 0.001 ->
  "1e-3"), more as they are (0.0025 -> "0.0025")."""
  text = f"{tol:.0e}" if float(f"{tol:.0e}") == tol else f"{tol:g}"
  return text.replace("e-0", "e-").replace("e+0", "e+")


def tolerance_label(tolerances):
  """A sparsity line's legend text: "exact zeros", "|w| ≤ 1e-6", or for lines that coincide
  "exact, ≤1e-6, ≤1e-4 (identical)"."""
  if len(tolerances) == 1:
    return "exact zeros" if tolerances[0] == 0 else f"|w| ≤ {_short(tolerances[0])}"
  return ", ".join("exact" if t == 0 else f"≤{_short(t)}" for t in tolerances) + " (identical)"


def sparsity_figure(table, paper_ratio, title, path):
  """Sparsity ratio against the iteration it is measured at, one line (IQM) with its 95%
  band per tolerance (tolerances whose lines coincide: one line, named once); the paper's
  ratio dashed. table: from sparsity_along_training. Returns the legends' texts."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(9, 4.0), dpi=120)
  colors = dict(zip(table, plt.get_cmap("viridis")(np.linspace(0, 0.9, len(table)))))
  series = {}
  for tol, by_iteration in table.items():
    points = [(i, v) for i, v in by_iteration.items() if v is not None]
    if points:
      series[tol] = ([i for i, _ in points], np.array([v for _, v in points], np.float64).T)  # [3, n]
  for group in coincident(series):
    x, (iqm, low, high) = series[group[0]]
    ax.plot(x, iqm, marker="o", markersize=3, color=colors[group[0]], label=tolerance_label(group))
    ax.fill_between(x, low, high, color=colors[group[0]], alpha=0.15, linewidth=0)
  notes = [_band("iqm")]
  if paper_ratio is not None:
    notes.insert(0, _reference(ax, paper_ratio, f"paper: {paper_ratio}", color="black", linestyle="--"))
  ax.set_xscale("log")
  iterations = sorted({i for by_iteration in table.values() for i in by_iteration})
  ax.set_xticks(iterations, [str(i) for i in iterations])
  ax.xaxis.set_minor_locator(plt.NullLocator())
  ax.set_xlabel("iteration of f2 at which the ratio is measured (log scale)")
  ax.set_ylabel("sparsity ratio (Def. 4.2)")
  ax.set_ylim(0, max(1.05, ax.get_ylim()[1]))  # Def. 4.2 can exceed 1: zeros appear elsewhere
  return _finish(plt, fig, ax, title, "counted as zero", path, notes)


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
  ax.axhline(0, color="black", linewidth=0.8, label="scratch: 0 saved")
  ax.set_xscale("log")
  ratios = sorted({row["compression"] for row in candidates.values()})
  ax.set_xticks(ratios, [f"{r:.0f}x" for r in ratios])
  ax.xaxis.set_minor_locator(plt.NullLocator())
  ax.set_xlabel("compression ratio d / code size (log scale)")
  ax.set_ylabel("iterations saved vs scratch, positive: faster\n(IQM over seeds, 95% CI)")
  return _finish(plt, fig, ax, title, "start point", path)
