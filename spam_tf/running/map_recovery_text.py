"""The prose of bin/spam_maps' report (spam_tf/running/map_recovery_report.py): the opening
answer, made from the rows' numbers, and how the rows were made."""
import numpy as np

from spam_tf.running import map_recovery as recovery

RULE_WORDS = {"old": "the old search (mapping.search by mapping.score)",
              "subspace": "the new search by the subspace score", "master": "the new search by MASTER's error"}
SHORT = {"old": "old", "subspace": "subspace", "master": "MASTER"}
CELL_NOTE = ("Each cell: the cases whose chosen map is exact (every input the twin reads mapped to its "
             "base input with its sign, and the action), old · subspace · MASTER, of the cases run "
             "(seeds, and in the first table the twin variants pooled); — where none ran.")
SHARES_NOTE = ("Means over every case of the task: the share of the base inputs the twin reads that the "
               "chosen map reads right with their sign, and (variant distract only) the share of "
               "distractors left unmapped: the noise input, and one of the two readers of the "
               "duplicated input. The search time is the rule's own (the fit and the data excluded).")
VALUES_NOTE = ("The value each rule chose its map by: mapping.score (old) and the subspace score, "
               "higher is better, 1 at most; MASTER's normalised one-step prediction error, lower is "
               "better, 1 = predicting no change. A floor on the value (auto_map's probe_floor, 0.8 on "
               "mapping.score today) can only keep exact maps where the two columns separate.")
WHY_NOTE = ("A wrong pick is the search's miss where its own criterion rates the true map better than "
            "the pick (the true map with a duplicated input read once, as a one-to-one map), and the "
            "criterion's where it rates the wrong pick at least as well as the truth: no search would "
            "have helped.")


def pct(value):
  return "—" if np.isnan(value) else f"{100 * value:.0f}%"


def share(rows, rule):
  return (sum(bool(r["rules"][rule]["recovery"]["exact"]) for r in rows) / len(rows)) if rows else float("nan")


def select(rows, **fields):
  return [r for r in rows if all(r[k] == v for k, v in fields.items())]


def common_budgets(rows):
  """The budgets every task ran, smallest first."""
  per_task = [{r["budget"] for r in rows if r["base"] == base} for base in {r["base"] for r in rows}]
  return sorted(set.intersection(*per_task))


def _by_size(rows, rule):
  return ", ".join(f"{pct(share(select(rows, inputs=d), rule))} at {d}"
                   for d in sorted({r["inputs"] for r in rows}))


def _plural(count, word):
  return f"{count} {word}{'s' * (count != 1)}"


def _overall(rows):
  sizes = sorted({r["inputs"] for r in rows})
  return (f"Over {len(rows)} cases ({_plural(len({r['base'] for r in rows}), 'base task')} of "
          f"{sizes[0]}–{sizes[-1]} inputs, {_plural(len({r['seed'] for r in rows}), 'twin seed')}), the exact "
          "twin map was chosen in " + ", ".join(f"{pct(share(rows, rule))} by {RULE_WORDS[rule]}"
                                                 for rule in recovery.RULES) + ".")


def _sizes_sentence(random):
  """Random target data at the largest budget every task ran: each rule's share by size."""
  budget = common_budgets(random)[-1]
  at = select(random, budget=budget)
  return (f"With uniformly random target data (near what auto_map fits on: a fresh network's episodes) and {budget} steps, "
          f"a budget every task ran, the exact share by the base task's inputs is "
          + "; ".join(f"{SHORT[rule]} {_by_size(at, rule)}" for rule in recovery.RULES) + ".")


def _budget_sentence(random, best):
  """On the tasks that ran more than one budget with random data: smallest against largest."""
  budgets = sorted({r["budget"] for r in random})
  ran = [b for b in {r["base"] for r in random} if len({r["budget"] for r in select(random, base=b)}) > 1]
  if len(budgets) < 2 or not ran:
    return ""
  group = [r for r in random if r["base"] in ran]
  low, high = min(r["budget"] for r in group), max(r["budget"] for r in group)
  ends = lambda rule: (f"{pct(share(select(group, budget=low), rule))} at {low} to "
                       f"{pct(share(select(group, budget=high), rule))} at {high} steps")
  names = ", ".join(sorted(ran, key=lambda b: (select(group, base=b)[0]["inputs"], b)))
  return f"On {names} the step budget moves {SHORT[best]} from {ends(best)}, the old search from {ends('old')}."


def _old_sentence(rows, best):
  """Where the old search is more than 20 points behind (or ahead of) the better new rule."""
  sizes = sorted({r["inputs"] for r in rows})
  gap = lambda group: share(group, best) - share(group, "old")
  behind = [f"{variant} twins of {d} inputs ({pct(share(g, 'old'))} against {pct(share(g, best))})"
            for variant in recovery.VARIANTS for d in sizes
            for g in [select(rows, variant=variant, inputs=d)] if g and gap(g) > 0.2]
  ahead = [f"{variant} {d}" for variant in recovery.VARIANTS for d in sizes
           for g in [select(rows, variant=variant, inputs=d)] if g and gap(g) < -0.2]
  text = (f"With random data (budgets pooled) the old search falls more than 20 points behind {SHORT[best]} on "
          + ("; ".join(behind) if behind else "no variant and size"))
  return text + (f", and is more than 20 points ahead of it on {', '.join(ahead)} (variant, inputs)." if ahead else ".")


def _policy_sentence(rows, best):
  """Each rule's share per data policy, where every policy ran; whose the wrong picks are."""
  policies = [p for p in recovery.POLICIES if select(rows, policy=p)]
  if len(policies) < 2:
    return ""
  shared = [r for r in rows if all(select(rows, base=r["base"], budget=r["budget"], policy=p) for p in policies)]
  parts = [f"{p} " + ", ".join(f"{SHORT[rule]} {pct(share(select(shared, policy=p), rule))}" for rule in recovery.RULES)
           for p in policies]
  wrong = [r for r in select(shared, policy=policies[1]) if not r["rules"][best]["recovery"]["exact"]]
  blamed = sum(criterion_blamed(r, best) for r in wrong)
  return (f"By the target data's policy (on the tasks and budgets that ran all of them): {'; '.join(parts)}; "
          f"on {policies[1]} data {SHORT[best]}'s own criterion rates {blamed} of its {len(wrong)} wrong picks "
          "at least as well as the true map (the criterion's choice, not a search miss).")


def criterion_blamed(row, rule):
  """Whether the rule's criterion rates its (wrong) pick at least as well as the true map."""
  pick, truth = row["rules"][rule]["value"], row["truth_values"][rule]
  return pick <= truth + 1e-9 if rule == "master" else pick >= truth - 1e-9


def partial(row, rule):
  """Whether the rule's pick leaves more twin inputs unmapped than an exact one-to-one map
  does (the distractors): it leaves out a true input."""
  truth = row["truth"]["observation"]
  distractors = len(truth) - len(set(truth) - {None})  # noise inputs, and a duplicate's second reader
  return sum(j is None for j in row["rules"][rule]["map"]["observation"]) > distractors


def best_new(rows):
  return max(("subspace", "master"), key=lambda rule: share(rows, rule))


def opening(rows):
  """The title, 3–5 sentences from the numbers, and what the runs are for."""
  random = select(rows, policy="random") or rows
  best = best_new(random)
  sentences = [_overall(rows), _sizes_sentence(random), _budget_sentence(random, best),
               _old_sentence(random, best), _policy_sentence(rows, best)]
  return ("# Does the automatic inter-task map find known structure?\n\n" + " ".join(s for s in sentences if s)
          + "\n\nThese runs are the tuning data for the automatic map's thresholds (which rule, a floor on "
          "its value, the target steps to spend): a choice made on them is judged on fresh twin seeds "
          "(10–19) or other tasks, not on these.")


def _twin_notes(rows):
  """Twin maps of the plain variant that keep the base order, or flip no sign (said, not hidden)."""
  plain = {(r["base"], r["seed"]): r["truth"] for r in select(rows, variant="plain")}
  ordered = [f"{b} seed {s}" for (b, s), t in sorted(plain.items())
             if list(t["observation"]) == list(range(len(t["observation"])))]
  unsigned = [f"{b} seed {s}" for (b, s), t in sorted(plain.items()) if all(x == 1 for x in t["signs"])]
  return (f"Plain twins that keep the base's input order: {', '.join(ordered) or 'none'}; that flip no "
          f"input's sign: {', '.join(unsigned) or 'none'} (their actions are still relabelled where a map "
          "can say so). twins.relabel draws a map from the seed and the input count alone, so tasks of one "
          "size share their twins' maps (Hopper and InvertedDoublePendulum, HalfCheetah and Walker2d).")


def _grid_lines(rows):
  lines = []
  for base in sorted({r["base"] for r in rows}, key=lambda b: (select(rows, base=b)[0]["inputs"], b)):
    own = select(rows, base=base)
    order = {"variant": list(recovery.VARIANTS), "policy": list(recovery.POLICIES)}
    field = lambda name: ", ".join(str(v) for v in sorted({r[name] for r in own},
                                                          key=lambda v: order[name].index(v) if name in order else v))
    expert = sorted({r["expert_final_eval_return"] for r in own if r["expert_final_eval_return"] is not None})
    lines.append(f"| {base} | {own[0]['inputs']} | {field('variant')} | {field('budget')} | {field('policy')} | "
                 f"{len({r['seed'] for r in own})} | {len(own)} | {f'{expert[0]:.1f}' if expert else '—'} | "
                 f"{int(np.median([r['source_steps'] for r in own]))} |")
  return lines


def how_made(rows, settings, invocations):
  """Settings, the grid each task ran, the experts, the commands with their times."""
  grid = ["| task | inputs | variants | budgets | policies | seeds | cases | expert's final greedy return "
          "| source steps (median) |", "|---|---|---|---|---|---|---|---|---|"] + _grid_lines(rows)
  commands = [f"    {i['command']}   # {i['computed']} cases"
              + (f" of {i['planned']} (stopped)" if i.get("planned", i["computed"]) > i["computed"] else "")
              + f", {i['wall_seconds'] / 60:.1f} min wall, {i['cpu_seconds'] / 60:.1f} CPU-min"
              for i in invocations if i["computed"]]
  return "\n\n".join([
      "## How it was made",
      "Per case (spam_tf/running/map_recovery.py): the base's transitions from a uniformly random "
      f"policy ({settings['source_steps']} steps as auto_map collects them: 8 envs, complete episodes), "
      "the twin's from one env with episodes cut at the budget, by the data policy: random, the base's "
      f"f1 expert (train_eval with its defaults, {settings['expert_iterations']} iterations, seed 0, one per "
      "base) acting through the twin's true map (dropped inputs read as 0), or that expert with "
      f"{pct(settings['noise_share'])} of its actions uniformly random. Variants: plain (inputs permuted "
      "and signed), drop (2 inputs dropped), distract (a white-noise input and a duplicate of one input "
      "added); actions relabelled where a map can say so (CartPole's and Acrobot's order, "
      "InvertedDoublePendulum's sign); a Box action of more than one dimension the twin leaves as it is, "
      "and the searches compare it column by column (mapping's 'same' mode), so a walker's pick is judged "
      "as it is. Where the physics is mirror-symmetric (CartPole, Acrobot, InvertedDoublePendulum: every "
      "angle, position and velocity negated with the action, an input with an offset such as a cosine "
      "kept), the truth composed with that symmetry counts as well. An input constant in the twin's data "
      "(InvertedDoublePendulum-v4's three constraint forces, always 0) counts as right whatever the pick: "
      "nothing can tell where it goes. Inputs whose mean is at least a spread away from 0 in both tasks "
      "take their sign from it (mapping's anchors) in the new searches; the old one only prefers, of a map "
      "and its mirror image, the one that agrees with them.",
      _twin_notes(rows), "\n".join(grid),
      f"Case wall time summed: {sum(r['seconds'] for r in rows) / 60:.1f} min (target data, fit and the "
      "three searches; the shared source data and experts besides). Commands (each invocation that "
      "computed cases):", "\n".join(commands) or "    (none recorded)"])
