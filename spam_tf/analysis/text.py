"""The report's generated sentences: each says what an interval or a table shows, no more."""
import numpy as np

from spam_tf.analysis import scores as scores_lib
from spam_tf.analysis import statistics as st
from spam_tf.spam import genome as genome_lib

CONTROLS = ("relu", "prune", "relu_prune", "noise")
GENOME_VARIANTS = genome_lib.GENOME_METHODS


def fmt(value, digits=1):
  return "—" if value is None else f"{value:.{digits}f}"


def interval(point, low, high, digits=1):
  return f"{fmt(point, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def verdict_sentences(rows):
  """Plain-language verdict of one experiment, from the intervals only."""
  if "spam" not in rows:
    return []
  words = {"better": "reaches the maximum faster than", "worse": "reaches the maximum more slowly than",
           "no difference": "shows no detectable difference from"}
  spam = rows["spam"]
  lines = []
  for reference in ("scratch", "copy"):
    if f"verdict_{reference}" in spam:
      mean, low, high = spam[f"minus_{reference}"]
      lines.append(f"SPAM {words[spam[f'verdict_{reference}']]} `{reference}` (paired difference in "
                   f"iterations to the maximum {mean:+.1f} [{low:+.1f}, {high:+.1f}], 95% CI).")
  for control in CONTROLS:
    if control in rows:
      mean, low, high = rows[control]["spam_minus"]
      lines.append(f"Against `{control}`: SPAM {words[rows[control]['spam_verdict']]} it "
                   f"({mean:+.1f} [{low:+.1f}, {high:+.1f}]).")
  beaten = [c for c in CONTROLS if c in rows and rows[c]["spam_verdict"] == "better"]
  if any(c in rows for c in CONTROLS):
    lines.append("So the autoencoder adds something beyond what these controls do to the expert's weights."
                 if beaten and len(beaten) == sum(c in rows for c in CONTROLS) else
                 "So SPAM is not shown to be better than every control that uses no autoencoder"
                 + (f" (it beats {', '.join(f'`{c}`' for c in beaten)})." if beaten else "."))
  return lines


def mapping_sentences(mapped, unmapped, reps):
  """What the observation map changes, per method both experiments ran (same seeds):
  the start return and the paired difference in iterations to the maximum."""
  mapped_scores, _, _ = scores_lib.experiment_scores(mapped)
  unmapped_scores, _, _ = scores_lib.experiment_scores(unmapped)
  lines = []
  for method in mapped["methods"]:
    if method == "scratch" or method not in unmapped_scores:
      continue
    mean, low, high = st.paired_difference(mapped_scores[method]["iterations"],
                                           unmapped_scores[method]["iterations"], reps)
    lines.append(f"The observation map changes `{method}`'s start return from "
                 f"{np.mean(unmapped_scores[method]['start']):.1f} to {np.mean(mapped_scores[method]['start']):.1f} "
                 f"and its iterations to the maximum by {mean:+.1f} [{low:+.1f}, {high:+.1f}] "
                 f"({st.verdict(low, high, lower_is_better=True).replace('better', 'faster').replace('worse', 'slower')}).")
  return lines


def paper_sparsity_sentence(table, paper_ratio):
  """Where (iteration of f2, tolerance) this project's IQM reaches the paper's sparsity ratio."""
  reached = [f"iteration {i} with {'exact zeros' if tol == 0 else f'|w| ≤ {tol:g}'}"
             for tol, by_iteration in table.items() for i, v in by_iteration.items()
             if v is not None and v[0] >= paper_ratio]
  return (f"The paper's sparsity ratio ({paper_ratio}) is reached (IQM) "
          + (f"only at: {'; '.join(reached)}." if reached else "at no iteration and tolerance measured here."))


def beats_every_reference(row):
  """Whether a candidate is faster than every start it was compared with that uses no
  genome autoencoder and no autoencoder of its own (scratch, copy, the controls)."""
  references = [(o, verdict) for o, (_, verdict) in row["versus"].items() if o != "spam"]
  return bool(references) and all(verdict == "better" for _, verdict in references)


def _reference_names(candidates):
  return ", ".join(f"`{o}`" for o in sorted({o for row in candidates.values() for o in row["versus"]} - {"spam"}))


def pick_verdict(pick, candidates, tuning_root_dir):
  """What the start picked on the tuning seeds does on these seeds: one sentence."""
  if pick is None:
    return f"The tuning sweep in `{tuning_root_dir}` has no group of these experiments: no pick."
  if pick not in candidates:
    return f"The start picked on the tuning seeds, `{pick[0]}` with code size {pick[1]}, did not run here."
  method, code = pick
  results = "; ".join(f"vs `{other}` {verdict} ({interval(*difference)})"
                      for other, (difference, verdict) in candidates[pick]["versus"].items())
  return (f"**Picked on the tuning seeds** (`{tuning_root_dir}`, seeds disjoint from these): `{method}` with "
          f"code size {code}. On these seeds: {results}. So it "
          + ("reaches the maximum faster than" if beats_every_reference(candidates[pick])
             else "does not reach the maximum faster than all of")
          + f" {_reference_names(candidates)}.")


def at_maximum_sentence(scores):
  """' ...' naming the starts without a genome autoencoder that are at the task maximum
  before any training on every seed (no start can be faster than those), or ''."""
  at_start = [f"`{m}`" for m, s in scores.items()
              if m not in GENOME_VARIANTS and m != "spam" and len(s["iterations"]) and np.all(s["iterations"] == 0)]
  if not at_start:
    return ""
  return (f" On this pair {', '.join(at_start)} {'is' if len(at_start) == 1 else 'are'} at the maximum before "
          f"any training on every seed: no start can reach it faster, only as fast (the ceiling in the figure).")


def genome_verdict(candidates, seeds):
  """One sentence: which compression-based starts reach the maximum faster than every start
  they were compared with that uses no autoencoder of its own, from the paired intervals."""
  winners = [f"`{method}` (code size {code})" for (method, code), row in sorted(candidates.items())
             if beats_every_reference(row)]
  compared = _reference_names(candidates)
  tests = sum(len(row["versus"]) for row in candidates.values())
  if winners:
    return (f"Over {seeds} seeds, {', '.join(winners)} reach the maximum faster than each of {compared} "
            f"(95% CIs exclude no difference; {tests} paired comparisons of {len(candidates)} "
            f"compression-based starts, with no correction for their number).")
  return (f"Over {seeds} seeds, none of the {len(candidates)} compression-based starts reaches the maximum "
          f"faster than each of {compared} (95% CIs).")
