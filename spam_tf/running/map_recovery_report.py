"""bin/spam_maps' report: REPORT.md and two figures from every row of a root_dir
(spam_tf/running/map_recovery.py): the exact-map shares per selection rule against the
task's input count, by data policy and (random data) by twin variant, per step budget; the
counts per case; the shares of true inputs and distractors; whether a wrong pick is the
search's miss or its criterion's choice; the chosen maps' values, exact or not (what a
threshold on them would separate). The opening sentences (map_recovery_text.py) are made
from the numbers.
"""
import os

import numpy as np

from spam_tf import files
from spam_tf.running import map_recovery as recovery
from spam_tf.running import map_recovery_store as store
from spam_tf.running import map_recovery_text as text
from spam_tf.running.map_recovery_text import select, share

RULE_LABELS = {"old": "old: mapping.search", "subspace": "new: subspace", "master": "new: MASTER"}
COLORS = {"old": "#7f7f7f", "subspace": "#d62728", "master": "#1f77b4"}
NUDGE = {"old": -0.15, "subspace": 0.0, "master": 0.15}  # inputs: lines on one value stay apart
FIGURES = {"policy": "recovery_by_policy.png", "variant": "recovery_by_variant.png"}


def load(root_dir):
  """Every row of root_dir's rows.jsonl."""
  return list(store.read_rows(root_dir).values())


def present(rows, field, order):
  """The values of `field` the rows hold, in `order`'s order (others after, sorted)."""
  held = {row[field] for row in rows}
  return [v for v in order if v in held] + sorted(held - set(order))


def tasks(rows):
  """[(base, inputs)] by input count, then name."""
  return sorted({(row["base"], row["inputs"]) for row in rows}, key=lambda t: (t[1], t[0]))


def exact(rows, rule):
  """(cases where `rule` chose the exact map, cases)."""
  return sum(bool(row["rules"][rule]["recovery"]["exact"]) for row in rows), len(rows)


def cell(rows):
  """'old · subspace · MASTER of n' exact counts; '—' where no case ran."""
  if not rows:
    return "—"
  return " · ".join(str(exact(rows, rule)[0]) for rule in recovery.RULES) + f" of {len(rows)}"


def _budget_columns(rows):
  budgets = present(rows, "budget", recovery.BUDGETS)
  return budgets, "| " + " | ".join(f"{b} steps" for b in budgets) + " |", "|---" * len(budgets) + "|"


def summary_table(rows):
  """Markdown: a row per data policy and task, a column per budget (variants pooled)."""
  budgets, head, rule = _budget_columns(rows)
  lines = ["| data policy | task (inputs) " + head, "|---|---" + rule]
  for policy in present(rows, "policy", recovery.POLICIES):
    for base, inputs in tasks(rows):
      cells = [cell(select(rows, policy=policy, base=base, budget=b)) for b in budgets]
      if any(c != "—" for c in cells):
        lines.append(f"| {policy} | {base} ({inputs}) | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def case_table(rows):
  """Markdown: a row per task, variant and data policy, a column per budget (seeds counted)."""
  budgets, head, rule = _budget_columns(rows)
  lines = ["| task (inputs) | variant | data policy " + head, "|---|---|---" + rule]
  for base, inputs in tasks(rows):
    for variant in present(rows, "variant", recovery.VARIANTS):
      for policy in present(rows, "policy", recovery.POLICIES):
        group = select(rows, base=base, variant=variant, policy=policy)
        if group:
          cells = [cell(select(group, budget=b)) for b in budgets]
          lines.append(f"| {base} ({inputs}) | {variant} | {policy} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def _mean(values):
  values = [v for v in values if v is not None]
  return f"{np.mean(values):.2f}" if values else "—"


def shares_table(rows):
  """Markdown: per task and rule, the mean share of true inputs right, of distractors
  left unmapped (variant 'distract'), the exact share, the median search seconds."""
  lines = ["| task (inputs) | rule | true inputs right | distractors unmapped | exact | search s (median) |",
           "|---|---|---|---|---|---|"]
  for base, inputs in tasks(rows):
    group = select(rows, base=base)
    for rule in recovery.RULES:
      picks = [row["rules"][rule] for row in group]
      lines.append(f"| {base} ({inputs}) | {RULE_LABELS[rule]} | "
                   f"{_mean(p['recovery']['true_inputs'] for p in picks)} | "
                   f"{_mean(p['recovery']['distractors'] for p in picks)} | {share(group, rule):.2f} | "
                   f"{np.median([p['seconds'] for p in picks]):.2f} |")
  return "\n".join(lines)


def _spread(values):
  if not values:
    return "—"
  low, mid, high = np.percentile(values, [10, 50, 90])
  return f"{mid:.3f} [{low:.3f}, {high:.3f}] (n={len(values)})"


def values_table(rows):
  """Markdown: per rule and budget, the chosen map's value where it is exact and where it is
  not (median [10th, 90th percentile]): subspace and old higher is better, MASTER's error lower."""
  lines = ["| rule | budget | value of exact picks | value of wrong picks |", "|---|---|---|---|"]
  for rule in recovery.RULES:
    for budget in present(rows, "budget", recovery.BUDGETS):
      picks = [row["rules"][rule] for row in select(rows, budget=budget)]
      right = [p["value"] for p in picks if p["recovery"]["exact"]]
      wrong = [p["value"] for p in picks if not p["recovery"]["exact"]]
      lines.append(f"| {RULE_LABELS[rule]} | {budget} | {_spread(right)} | {_spread(wrong)} |")
  return "\n".join(lines)


def why_table(rows):
  """Markdown: per rule and data policy, the wrong picks, and whose they are (text.WHY_NOTE)."""
  lines = ["| rule | data policy | wrong picks | the search missed a better-rated truth | "
           "the criterion rated the pick at least as well | the pick leaves a true input out |",
           "|---|---|---|---|---|---|"]
  for rule in recovery.RULES:
    for policy in present(rows, "policy", recovery.POLICIES):
      wrong = [r for r in select(rows, policy=policy) if not r["rules"][rule]["recovery"]["exact"]]
      blamed = sum(text.criterion_blamed(r, rule) for r in wrong)
      left_out = sum(text.partial(r, rule) for r in wrong)
      lines.append(f"| {RULE_LABELS[rule]} | {policy} | {len(wrong)} | {len(wrong) - blamed} | {blamed} | {left_out} |")
  return "\n".join(lines)


def figure(rows, field, path):
  """A panel per (value of `field`, budget): exact share against input count, a line per
  rule (tasks of one input count, and the other field's values, pooled; the variant figure
  is given the random-policy rows only). Returns path."""
  from spam_tf.analysis import figures  # pylint: disable=import-outside-toplevel  (matplotlib)
  plt = figures._plt()  # pylint: disable=protected-access
  order = recovery.POLICIES if field == "policy" else tuple(recovery.VARIANTS)
  panels, budgets = present(rows, field, order), present(rows, "budget", recovery.BUDGETS)
  sizes = sorted({row["inputs"] for row in rows})
  fig, axes = plt.subplots(len(panels), len(budgets), figsize=(3.2 * len(budgets) + 1.5, 2.6 * len(panels) + 0.8),
                           sharex=True, sharey=True, squeeze=False)
  for r, value in enumerate(panels):
    for c, budget in enumerate(budgets):
      ax = axes[r][c]
      if not select(rows, budget=budget, **{field: value}):
        ax.text(0.5, 0.5, "not run", transform=ax.transAxes, ha="center", va="center", color="0.5")
      for rule in recovery.RULES:
        points = [(d, share(select(rows, inputs=d, budget=budget, **{field: value}), rule)) for d in sizes]
        points = [(d, s) for d, s in points if not np.isnan(s)]
        ax.plot([d + NUDGE[rule] for d, _ in points], [s for _, s in points], "o-", color=COLORS[rule], label=RULE_LABELS[rule],
                markersize=4, alpha=0.85)
      ax.set_ylim(-0.05, 1.05)
      ax.set_xticks(sizes)
      ax.grid(alpha=0.3)
      ax.set_title(f"{field} {value}, {budget} target steps", fontsize=9)
      if c == 0:
        ax.set_ylabel("share with the exact map")
      if r == len(panels) - 1:
        ax.set_xlabel("base task's inputs")
  handles, labels = axes[0][0].get_legend_handles_labels()
  fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
  fig.suptitle("Twin maps recovered exactly, by data policy and target step budget (variants and tasks of one "
               "size pooled)" if field == "policy" else "Twin maps recovered exactly from uniformly random target "
               "data, by twin variant and target step budget (tasks of one size pooled)", fontsize=10)
  fig.tight_layout(rect=(0, 0.05, 1, 0.96))
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def write(root_dir, out_dir):
  """REPORT.md and the figures from every row of root_dir; returns REPORT.md's path."""
  rows = load(root_dir)
  if not rows:
    raise ValueError(f"no rows in {root_dir}: nothing to report")
  os.makedirs(out_dir, exist_ok=True)
  figure(rows, "policy", os.path.join(out_dir, FIGURES["policy"]))
  figure(select(rows, policy="random") or rows, "variant", os.path.join(out_dir, FIGURES["variant"]))
  invocations, settings = store.read_invocations(root_dir), store.read_settings(root_dir)
  sections = [text.opening(rows), text.how_made(rows, settings, invocations),
              "## Exact maps per data policy and task\n\n" + text.CELL_NOTE + "\n\n" + summary_table(rows),
              f"![by data policy]({FIGURES['policy']})\n\n![by twin variant, random data]({FIGURES['variant']})",
              "## Per case\n\n" + text.CELL_NOTE + "\n\n" + case_table(rows),
              "## Shares of the map\n\n" + text.SHARES_NOTE + "\n\n" + shares_table(rows),
              "## Why wrong picks are wrong\n\n" + text.WHY_NOTE + "\n\n" + why_table(rows),
              "## The chosen maps' values\n\n" + text.VALUES_NOTE + "\n\n" + values_table(rows)]
  path = os.path.join(out_dir, "REPORT.md")
  files.write_text(path, "\n\n".join(sections) + "\n")
  return path


def terminal_table(rows):
  """The exact-map share per rule and input count (everything else pooled), as text."""
  sizes = sorted({row["inputs"] for row in rows})
  lines = ["exact map, share of cases " + " ".join(f"{d:>6} in" for d in sizes)]
  for rule in recovery.RULES:
    lines.append(f"{RULE_LABELS[rule]:<26}" + " ".join(f"{share(select(rows, inputs=d), rule):>9.2f}" for d in sizes))
  lines.append(f"{'cases':<26}" + " ".join(f"{len(select(rows, inputs=d)):>9d}" for d in sizes))
  return "\n".join(lines)
