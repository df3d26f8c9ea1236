"""The report's opening: its answer in a few generated sentences, then the table of the
primary comparisons (spam_tf.analysis.primary) that carry them, the only verdicts in a
report. Sign convention, as in every table and figure: iterations saved (the
reference's iterations minus the method's; positive: the method is faster).
"""
import collections

from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis.formats import WORDS, saved


def _rows(judged):
  """[(experiment, method, reference, comparison)] of every primary comparison judged."""
  return [(name, method, reference, c) for name, j in judged.items()
          for (method, reference), c in j.comparisons.items()]


def _kind(reference):
  """How the answer groups a reference: 'scratch', 'control' (a start without an
  autoencoder) or 'other' (a start of another experiment, or one with an autoencoder)."""
  if reference == "scratch":
    return "scratch"
  return "control" if reference in scores_lib.NO_AUTOENCODER else "other"


def _listing(rows, with_detectable=False):
  """'a (+4.3), b (+12.0)': experiments with their mean iterations saved."""
  parts = []
  for name, _, reference, c in rows:
    what = f"{name} ({-c['mean']:+.1f}" + (f" vs `{reference}`" if _kind(reference) != "scratch" else "")
    if with_detectable and c.get("detectable") is not None:
      what += f"; {paired.detectable_text(c)}"
    parts.append(what + ")")
  return ", ".join(parts)


def _sentence(method, kind, rows):
  """One sentence on `method` against one kind of reference across the experiments."""
  by_verdict = collections.defaultdict(list)
  for row in rows:
    by_verdict[row[3]["verdict"]].append(row)
  against = {"scratch": "training from scratch",
             "control": "its control without an autoencoder (" + ", ".join(
                 sorted({f"`{r[2]}`" for r in rows})) + ")",
             "other": "the other starts its experiments name"}[kind]
  words = {"better": "faster in", "worse": "more slowly in", "no difference": "with no difference found in"}
  parts = [f"{words[v]} {len(by_verdict[v])} ({_listing(by_verdict[v], v == 'no difference')})"
           for v in ("better", "worse", "no difference") if by_verdict[v]]
  return (f"Against {against}, `{method}` reached the threshold " + "; ".join(parts)
          + f", of {len(rows)} experiment{'s' * (len(rows) > 1)}.")


def sentences(experiments, judged):
  """The answer in prose: one sentence per method and kind of reference, from the primary
  verdicts only, and what a "no difference" means. [] when nothing was judged."""
  rows = _rows(judged)
  if not rows:
    return []
  seeds = sorted({len(c["differences"]) for *_, c in rows})
  lines = [f"This report answers {len(rows)} primary comparisons declared before the runs "
           f"({' or '.join(map(str, seeds))} seeds each; iterations to each experiment's success threshold, "
           "paired over seeds, Holm-corrected within each experiment; iterations saved: positive means faster)."]
  groups = collections.defaultdict(list)
  for row in rows:
    groups[(row[1], _kind(row[2]))].append(row)
  lines += [_sentence(method, kind, group) for (method, kind), group in groups.items()]
  if any(c["verdict"] == "no difference" for *_, c in rows):
    lines.append("Where no difference is found, the figure beside it is the smallest shift the test would have "
                 "found 4 times in 5: smaller effects are not ruled out.")
  lines.append("Every other number in this report is exploratory: no verdict.")
  return [" ".join(lines), ""]


def table(experiments, judged):
  """The primary comparisons, one row each; comparisons judged in an earlier experiment and
  experiments that repeat an earlier one say where."""
  lines = ["| experiment | comparison | iterations to | iterations saved, mean [Holm-adjusted 95% interval] "
           "| verdict (Holm p) | a \"no difference\" would have found |", "|---|---|---|---|---|---|"]
  for name, j in judged.items():
    if j.same_as:
      lines.append(f"| {name} | same units and criterion as {j.same_as} | | | | |")
    for (method, reference), c in j.comparisons.items():
      detectable = paired.detectable_text(c) if c["verdict"] == "no difference" else ""
      lines.append(f"| {name} | `{method}` vs `{reference}` | {_threshold_cell(c['scale'])} | {saved(c)} | "
                   f"{WORDS[c['verdict']]} ({c['p_adjusted']:.2g}) | {detectable} |")
    for (method, reference), where in j.elsewhere.items():
      lines.append(f"| {name} | `{method}` vs `{reference}` | judged in {where} | | | |")
  return lines + [""]


def _threshold_cell(scale):
  return f"{scale.criterion:g}" if scale.fallback is None else f"{scale.fallback:.1f}†"


def lines(experiments, judged):
  """The section: the answer's sentences, then its table with a note on † thresholds."""
  if not any(j.comparisons or j.same_as for j in judged.values()):
    return ["No comparison in this report was declared primary before its runs (the sweep file's "
            "`primary`; a genome study's tuning pick needs --tuning_root_dir), so it carries no verdict: every "
            "difference below is exploratory (its mean, unadjusted 95% interval and raw p).", ""]
  out = sentences(experiments, judged) + table(experiments, judged)
  if any(c["scale"].fallback is not None for j in judged.values() for c in j.comparisons.values()):
    out += ["† a fallback threshold: fewer than half of the runs the comparison reads reach the criterion, so "
            "iterations count to the median over those runs of their mean return over the last 10 iterations.", ""]
  return out
