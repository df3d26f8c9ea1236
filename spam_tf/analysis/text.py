"""The report's generated sentences: each says what a corrected test or a table shows, no more.

Verdict words come only from Holm-corrected paired tests (spam_tf.analysis.paired):
"faster"/"slower" where the adjusted p-value is below 5%, else "no detectable
difference"; intervals are given beside them as measured.
"""
import numpy as np

from spam_tf.analysis import paired
from spam_tf.analysis import scores as scores_lib
from spam_tf.spam import genome as genome_lib

CONTROLS = ("relu", "prune", "relu_prune", "noise")
GENOME_VARIANTS = genome_lib.GENOME_METHODS
WORDS = {"better": "reaches the criterion faster than", "worse": "reaches the criterion more slowly than",
         "no difference": "shows no detectable difference from"}


def fmt(value, digits=1):
  return "—" if value is None else f"{value:.{digits}f}"


def interval(point, low, high, digits=1):
  return f"{fmt(point, digits)} [{fmt(low, digits)}, {fmt(high, digits)}]"


def evidence(comparison):
  """'-2.5 [-4.4, -0.7], Holm-adjusted p = 0.012': a paired difference and its test."""
  return f"{paired.text(comparison)}, Holm-adjusted p = {comparison['p_adjusted']:.3g}"


def verdict_sentences(rows):
  """Plain-language verdict of one experiment's SPAM, from its corrected tests only."""
  if "spam" not in rows:
    return []
  spam = rows["spam"]["vs"]
  lines = [f"SPAM {WORDS[spam[r]['verdict']]} `{r}` (paired difference in iterations to the criterion "
           f"{evidence(spam[r])})." for r in ("scratch", "copy") if r in spam]
  controls = [c for c in CONTROLS if c in spam]
  lines += [f"Against `{c}`: SPAM {WORDS[spam[c]['verdict']]} it ({evidence(spam[c])})." for c in controls]
  without = [c for c in scores_lib.NO_AUTOENCODER if c in spam]  # copy and the controls
  beaten = [c for c in without if spam[c]["verdict"] == "better"]
  if controls:
    lines.append("So the autoencoder adds something beyond what the expert itself and these controls give."
                 if len(beaten) == len(without) else
                 "So SPAM is not shown to be better than every start that uses no autoencoder"
                 + (f" (it beats {', '.join(f'`{c}`' for c in beaten)})." if beaten else "."))
  return lines


def mapping_sentences(mapped, unmapped):
  """What the observation map changes, per method both experiments ran (same seeds): the
  start return and the paired difference in iterations to the criterion. These comparisons
  span two experiments: they are a family of their own, Holm-corrected among themselves."""
  mapped_scores, _, _ = scores_lib.experiment_scores(mapped)
  unmapped_scores, _, _ = scores_lib.experiment_scores(unmapped)
  family = {m: paired.compare(mapped_scores[m]["iterations"], unmapped_scores[m]["iterations"])
            for m in mapped["methods"] if m != "scratch" and m in unmapped_scores}
  paired.judge(family)
  words = {"better": "faster", "worse": "slower", "no difference": "no detectable difference"}
  return [f"The observation map changes `{m}`'s start return from {np.mean(unmapped_scores[m]['start']):.1f} "
          f"to {np.mean(mapped_scores[m]['start']):.1f} and its iterations to the criterion by "
          f"{evidence(test)} ({words[test['verdict']]}; Holm over the map's {len(family)} comparisons)."
          for m, test in family.items()]


def paper_sparsity_sentence(table, paper_ratio):
  """Where (iteration of f2, tolerance) this project's IQM reaches the paper's sparsity ratio."""
  reached = [f"iteration {i} with {'exact zeros' if tol == 0 else f'|w| ≤ {tol:g}'}"
             for tol, by_iteration in table.items() for i, v in by_iteration.items()
             if v is not None and v[0] >= paper_ratio]
  return (f"The paper's sparsity ratio ({paper_ratio}) is reached (IQM) "
          + (f"only at: {'; '.join(reached)}." if reached else "at no iteration and tolerance measured here."))


def sparsity_artefact_sentence(table, paper_ratio, learning_rate):
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


def beats_every_reference(row):
  """Whether a candidate is faster than every start it was compared with that uses no
  genome autoencoder and no autoencoder of its own (scratch, copy, the controls)."""
  verdicts = [test["verdict"] for other, test in row["versus"].items() if other != "spam"]
  return bool(verdicts) and all(v == "better" for v in verdicts)


def _reference_names(candidates):
  return ", ".join(f"`{o}`" for o in sorted({o for row in candidates.values() for o in row["versus"]} - {"spam"}))


def pick_verdict(pick, candidates, tuning_root_dir):
  """What the start picked on the tuning seeds does on these seeds: one sentence."""
  if pick is None:
    return f"The tuning sweep in `{tuning_root_dir}` has no group of these experiments: no pick."
  if pick not in candidates:
    return f"The start picked on the tuning seeds, `{pick[0]}` with code size {pick[1]}, did not run here."
  method, code = pick
  results = "; ".join(f"vs `{other}` {test['verdict']} ({paired.text(test)})"
                      for other, test in candidates[pick]["versus"].items())
  return (f"**Picked on the tuning seeds** (`{tuning_root_dir}`, seeds disjoint from these): `{method}` with "
          f"code size {code}. On these seeds: {results}. So it "
          + ("reaches the criterion faster than" if beats_every_reference(candidates[pick])
             else "does not reach the criterion faster than all of")
          + f" {_reference_names(candidates)}.")


def at_maximum_sentence(scores):
  """' ...' naming the starts without a genome autoencoder that are at the criterion
  before any training on every seed (no start can be faster than those), or ''."""
  at_start = [f"`{m}`" for m, s in scores.items()
              if m not in GENOME_VARIANTS and m != "spam" and len(s["iterations"]) and np.all(s["iterations"] == 0)]
  if not at_start:
    return ""
  return (f" On this pair {', '.join(at_start)} {'is' if len(at_start) == 1 else 'are'} at the criterion before "
          f"any training on every seed: no start can reach it faster, only as fast (the ceiling in the figure).")


def genome_verdict(candidates, seeds):
  """One sentence: which compression-based starts reach the criterion faster than every start
  they were compared with that uses no autoencoder of its own, from the corrected tests."""
  winners = [f"`{method}` (code size {code})" for (method, code), row in sorted(candidates.items())
             if beats_every_reference(row)]
  compared = _reference_names(candidates)
  tests = sum(len(row["versus"]) for row in candidates.values())
  correction = f"Holm-corrected over the {tests} paired comparisons of {len(candidates)} compression-based starts"
  if winners:
    return f"Over {seeds} seeds, {', '.join(winners)} reach the criterion faster than each of {compared} ({correction})."
  return (f"Over {seeds} seeds, none of the {len(candidates)} compression-based starts reaches the criterion "
          f"faster than each of {compared} ({correction}).")
