"""The report's figures on small synthetic inputs: the matrices' clipped colour scale, shared
task order, verdict marks and file names; the curves' named bands, reference lines in the
legend, fallback threshold and probe cost; the sparsity figure's coincident lines."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position

from spam_tf.analysis import figures  # pylint: disable=wrong-import-position
from spam_tf.analysis import matrices  # pylint: disable=wrong-import-position
from spam_tf.analysis import scores  # pylint: disable=wrong-import-position

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def kept(monkeypatch):
  """The figures the code under test closes, kept open to be inspected (closed after the test)."""
  close, figures_ = plt.close, []
  monkeypatch.setattr(plt, "close", figures_.append)
  yield figures_
  for fig in figures_:
    close(fig)


def entry(values, fallback=()):
  """A method's matrices.cells() entry: values {(source, target): (value, verdict)} of
  time_to_threshold, jumpstart the value / 10 with no verdict; fallback: the pairs with one."""
  cells_ = {pair: {"time_to_threshold": v, "jumpstart": (v[0] / 10, None)} for pair, v in values.items()}
  return {**cells_, "fallback": {pair: pair in fallback for pair in values}}


# --- the matrices -------------------------------------------------------------------

def test_the_colour_scale_is_clipped_at_a_percentile_over_all_panels():
  # |values| 1..10 over two panels (nan: no cell): the 90th percentile interpolates to 9.1.
  grids = [np.array([[1.0, -2.0], [3.0, np.nan]]), np.array([[4.0, -5.0, 6.0, 7.0, -8.0, 9.0, -10.0]])]
  assert matrices.clip_bound(grids) == pytest.approx(9.1)
  assert matrices.clip_bound([np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0]])]) == 3.0
  assert matrices.clip_bound([np.full((2, 2), np.nan)]) == 1.0
  assert [matrices.clip_mark(v, 9.1) for v in (10.0, -10.0, 9.1, -9.1, 0.0)] == ["▲", "▼", "", "", ""]


def test_a_clipped_cell_is_marked_and_a_verdict_of_none_carries_no_star():
  cells_ = entry({("A", "B"): (10.0, "better"), ("B", "A"): (-12.0, None), ("A", "A"): (-3.0, "no difference"),
                  ("B", "B"): (2.0, "worse")}, fallback=[("B", "B")])
  texts = matrices.cell_texts(cells_, ["A", "B"], "time_to_threshold", bound=9.1)
  assert texts == {("A", "B"): "+10.0▲*", ("B", "A"): "-12.0▼", ("A", "A"): "-3.0", ("B", "B"): "+2.0*†"}
  assert matrices.cell_texts(cells_, ["A", "B"], "jumpstart", bound=1.1)[("B", "A")] == "-1.20▼"
  assert [matrices._mark(v, False) for v in (None, "no difference", "better", "worse")] == ["", "", "*", "*"]


def test_rows_and_columns_share_one_task_order_with_same_task_cells_on_the_diagonal(tmp_path, kept):
  # The targets come in another order than the sources (the auto study's matrix_4 did).
  sources, targets = ["C-v0", "A-v0", "B-v0"], ["A-v0", "B-v0", "D-v0", "C-v0"]
  values = {(s, t): (10.0 * i + j, "better" if s == t else None)
            for i, s in enumerate(sources) for j, t in enumerate(targets)}
  found = {"spam": entry(values), "copy": entry({("A-v0", "A-v0"): (1.0, None)})}
  shown = matrices.figure(found, sources, targets, "time_to_threshold", str(tmp_path / "m.png"))
  assert (tmp_path / "m.png").read_bytes()[:8] == PNG
  assert shown["tasks"] == ["C-v0", "A-v0", "B-v0", "D-v0"]
  grid = matrices._grid(found["spam"], shown["tasks"], "time_to_threshold")
  for i, task in enumerate(shown["tasks"][:3]):
    assert grid[i, i] == values[(task, task)][0]  # the same-task cell sits at row i, column i
  assert np.isnan(grid[3]).all()  # D-v0 is only a target: its row is gray
  panel = kept[0].axes[0]
  outlined = sorted(p.get_xy() for p in panel.patches if not p.get_fill())
  assert outlined == [(i - 0.5, i - 0.5) for i in range(4)]
  assert [t.get_text() for t in panel.get_xticklabels()] == [t.get_text() for t in panel.get_yticklabels()]


def test_the_matrix_says_its_sign_convention_on_the_colour_bar_and_in_the_title(tmp_path, kept):
  found = {"spam": entry({("A", "B"): (69.0, "better"), ("B", "A"): (-1.0, None), ("A", "A"): (2.0, None),
                          ("B", "B"): (3.0, None)})}
  matrices.figure(found, ["A", "B"], ["B", "A"], "time_to_threshold", str(tmp_path / "m.png"))
  fig = kept[0]
  assert "iterations saved vs scratch" in fig._suptitle.get_text()
  assert "(positive: faster)" in fig._suptitle.get_text()
  colour_bar = fig.axes[-1].get_ylabel()
  assert "iterations saved vs scratch" in colour_bar and "(positive: faster)" in colour_bar
  assert "▲/▼ beyond the colour scale" in fig._supxlabel.get_text()
  assert "▲" in " ".join(t.get_text() for t in fig.axes[0].texts)  # +69 is beyond the 90th percentile


def study_experiments(gin_files, pairs):
  return {f"{gin_files}_{s}_{t}": {"source": s, "target": t, "methods": ["scratch", "spam"], "gin_files": gin_files}
          for s, t in pairs}


def test_the_matrix_files_are_named_by_what_they_show(tmp_path, monkeypatch):
  pairs = [("A", "B"), ("B", "A"), ("A", "A")]
  monkeypatch.setattr(matrices, "cells", lambda experiments, pairs_, judged=None: {
      "spam": entry({pair: (1.0, None) for pair in pairs_})})
  one = study_experiments(["configs/suite.gin"], pairs)
  text_ = "\n".join(matrices.lines(str(tmp_path), one))
  assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix_iterations_saved.png", "matrix_jumpstart.png"]
  assert "(matrix_iterations_saved.png)" in text_ and "positive: faster" in text_
  two = {**one, **study_experiments(["configs/suite.gin", "configs/auto_map.gin"], pairs)}
  (tmp_path / "two").mkdir()
  matrices.lines(str(tmp_path / "two"), two)
  assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
      "matrix_suite_auto_map_iterations_saved.png", "matrix_suite_auto_map_jumpstart.png",
      "matrix_suite_iterations_saved.png", "matrix_suite_jumpstart.png"]
  assert matrices.study_slug(["configs/paper_4_2_transfer.gin", "configs/auto_map.gin"]) == \
      "paper_4_2_transfer_auto_map"
  assert matrices.study_slug([]) == "default"


# --- curves, profile, sparsity, genome -----------------------------------------------

def test_the_curves_name_their_band_reference_lines_threshold_and_probe_cost(tmp_path, kept):
  scale = scores.Scale(1000.0, 5.6)
  ramp = np.linspace(20.0, 1000.0, 11)
  curves = {"scratch": np.stack([ramp, ramp * 0.9]), "spam": np.stack([ramp, ramp]), "relu": np.stack([ramp] * 2)}
  texts = figures.curve_figure(curves, scale, "t", str(tmp_path / "c.png"), 20, threshold=304.7,
                               delays={"spam": 0.3, "relu": 0.0})
  assert (tmp_path / "c.png").read_bytes()[:8] == PNG
  assert texts == ["scratch", "spam", "relu", "criterion (1000)", "random policy (5.6)",
                   "fallback threshold (304.7)", "spam: probe cost 0.3 it.", figures.BANDS["mean"]]
  assert not kept[0].axes[0].texts  # no label under a curve: every line is named in the legend
  plain = figures.curve_figure(curves, scale, "t", str(tmp_path / "p.png"), 20)
  assert plain == ["scratch", "spam", "relu", "criterion (1000)", "random policy (5.6)", figures.BANDS["mean"]]


def test_the_profile_names_its_band(tmp_path):
  texts = figures.profile_figure({"scratch": [2, 3, 5], "spam": [1, 1, 2]}, 4, "t", str(tmp_path / "p.png"), 20)
  assert texts == ["scratch", "spam", figures.BANDS["profile"]] and "stratified-" in texts[-1]


def test_coincident_lines_are_merged_into_one_legend_entry():
  line = ([1, 2, 5], np.array([[0.4, 0.1, 0.1], [0.3, 0.0, 0.0], [0.5, 0.2, 0.2]]))
  series = {0.0: line, 1e-6: (line[0], line[1] + 1e-10), 1e-4: (line[0], line[1] + 1e-3),
            1e-3: line, 1e-2: ([1, 2], line[1][:, :2])}
  assert figures.coincident(series) == [[0.0, 1e-6, 1e-3], [1e-4], [1e-2]]
  assert figures.tolerance_label([0.0, 1e-6, 1e-4, 1e-3]) == "exact, ≤1e-6, ≤1e-4, ≤1e-3 (identical)"
  assert [figures.tolerance_label([t]) for t in (0.0, 1e-6, 0.01, 0.0025)] == [
      "exact zeros", "|w| ≤ 1e-6", "|w| ≤ 1e-2", "|w| ≤ 0.0025"]


def test_the_sparsity_figure_draws_coincident_lines_once(tmp_path, kept):
  same = {1: (0.4, 0.3, 0.5), 2: (0.1, 0.05, 0.15), 5: (0.1, 0.05, 0.15)}
  table = {0.0: same, 1e-6: dict(same), 1e-4: dict(same), 1e-3: dict(same),
           1e-2: {1: (1.0, 0.9, 1.0), 2: (0.7, 0.6, 0.8), 5: None}}
  texts = figures.sparsity_figure(table, 0.82, "t", str(tmp_path / "s.png"))
  assert (tmp_path / "s.png").read_bytes()[:8] == PNG
  assert texts == ["exact, ≤1e-6, ≤1e-4, ≤1e-3 (identical)", "|w| ≤ 1e-2", "paper: 0.82", figures.BANDS["iqm"]]
  assert len(kept[0].axes[0].get_lines()) == 3 and not kept[0].axes[0].texts  # two lines and the paper's


def test_the_genome_figure_names_scratch_in_the_legend(tmp_path, kept):
  candidates = {("genome", 36): {"compression": 36, "speedup": (-5.0, -8.0, -1.0)},
                ("genome", 72): {"compression": 72, "speedup": (2.0, -1.0, 4.0)}}
  texts = figures.genome_figure(candidates, {"copy": (-20.0, 0, 0)}, "t", str(tmp_path / "g.png"), ceiling=20.0)
  assert "scratch: 0 saved" in texts and not kept[0].axes[0].texts
