"""Each binary's command line as a user meets it: --help lists its own flags and no other
binary's, a flag it does not define is refused in one line, and every example command in the
help texts and in README.md's code blocks runs (at smoke size: the overrides below)."""
import concurrent.futures
import dataclasses
import fnmatch
import functools
import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT, user_env
from tests.test_spam_main import CHATTER

GIN = {"gin_file", "gin_bindings"}
ENGINE = {"backend", "workers", "ray_address"}
OWN_FLAGS = {
    "spam_main": {"source", "target", "root_dir", "seeds", "methods", "source_expert_dir", *GIN, *ENGINE},
    "spam_sweep": {"sweep", "root_dir", "seeds", "experiments", "reuse_units_from", "accept_stale_units",
                   *GIN, *ENGINE},
    "spam_learners": {"envs", "candidates", "seeds", "root_dir", "reuse_units_from", *GIN, *ENGINE},
    "spam_eval": {"saved_model", "env", "episodes", "seed", "json"},
    "spam_report": {"root_dir", "out_dir", "bootstrap_reps", "tuning_root_dir"},
    "spam_bench": {"envs", "rounds", "split_iterations", "pipeline", "scaling_seeds", "scaling_batch_steps",
                   "sweeps", "sweep_root", "json", *GIN},
    "spam_maps": {"root_dir", "out_dir", "bases", "variants", "budgets", "policies", "seeds", "source_steps",
                  "expert_iterations", "noise_share"},
}
# Flags whose default is decided elsewhere, or that have none: their help says so in words.
DEFAULT_IN_WORDS = {("spam_sweep", "seeds"): "Default: the sweep file's sweep.seeds.",
                    ("spam_sweep", "sweep"): "Required.", ("spam_sweep", "root_dir"): "Required.",
                    ("spam_report", "root_dir"): "Required.", ("spam_eval", "saved_model"): "Required.",
                    ("spam_main", "root_dir"): "(default: runs/<source>_to_<target>)"}


def invoke(binary, *args, timeout=900):
  return subprocess.run([sys.executable, os.path.join(ROOT, "bin", binary), *args], capture_output=True,
                        text=True, cwd=ROOT, env=user_env(), timeout=timeout)


@functools.lru_cache(maxsize=None)
def help_text(binary):
  proc = invoke(binary, "--help", timeout=60)
  assert proc.returncode == 1 and proc.stderr == "", proc.stderr  # absl's --help exits 1
  return proc.stdout


def usage_and_flags(binary):
  """(the usage text above absl's 'flags:' line, {flag name: its help block})."""
  usage, _, listing = help_text(binary).partition("\nflags:\n")
  blocks = re.split(r"\n(?=  (?:-\w,)?--)", listing)  # a flag's block starts at 2 spaces; its wrap at 4
  named = (re.match(r"\s*(?:-\w,)?--(?:\[no\])?(\w+):", block) for block in blocks)
  return usage, {m.group(1): " ".join(block.split()) for m, block in zip(named, blocks) if m}


@pytest.mark.parametrize("binary", sorted(OWN_FLAGS))
def test_help_lists_the_binarys_own_flags_only(binary):
  usage, listed = usage_and_flags(binary)
  others = set().union(*OWN_FLAGS.values()) - OWN_FLAGS[binary]
  assert set(listed) == OWN_FLAGS[binary] | {"verbosity"}, (sorted(set(listed) & others), listed.keys())
  assert usage.strip() and help_text(binary).rstrip().endswith("Try --helpfull to get a list of all flags.")
  for name, block in listed.items():
    words = DEFAULT_IN_WORDS.get((binary, name))
    if words:
      assert words in block and "(default:" not in block.replace(words, ""), block
  assert "1: the terminal shows every line" in listed["verbosity"]


def test_helpfull_still_lists_every_flag():
  proc = invoke("spam_report", "--helpfull", timeout=60)
  assert proc.returncode == 1 and "--tuning_root_dir" in proc.stdout and "--[no]logtostderr" in proc.stdout


# A flag of another binary, passed to each: refused before anything runs.
FOREIGN = {"spam_report": "--source=Foo-v0", "spam_main": "--sweep=configs/sweeps/paper.gin",
           "spam_sweep": "--source=CartPole-v1", "spam_eval": "--workers=7",
           "spam_learners": "--saved_model=x", "spam_bench": "--saved_model=x",
           "spam_maps": "--sweep=configs/sweeps/paper.gin"}
REQUIRED = {"spam_sweep": "--sweep and --root_dir are required", "spam_report": "--root_dir is required",
            "spam_eval": "--saved_model is required"}


@pytest.mark.parametrize("binary", sorted(OWN_FLAGS))
def test_a_flag_the_binary_does_not_define_is_one_line_and_exit_1(binary):
  flag = FOREIGN[binary]
  proc = invoke(binary, flag, timeout=60)
  assert (proc.returncode, proc.stdout) == (1, "")
  assert proc.stderr == f"error: Unknown command line flag '{flag[2:].split('=')[0]}'\n"
  if binary in REQUIRED:
    proc = invoke(binary, timeout=60)
    assert (proc.returncode, proc.stderr) == (1, f"error: {REQUIRED[binary]}\n")


# --- every example command line runs ---------------------------------------------------

COMMAND = re.compile(r"^(?:\.venv/bin/python )?bin/(spam_\w+)(?: |$)")


def joined_lines(lines):
  """Lines with their backslash continuations joined: [(first line's index, text)]."""
  joined, pending = [], None
  for i, line in enumerate(lines):
    start, text = pending or (i, "")
    text += line.strip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line.strip()
    pending = (start, text) if line.rstrip().endswith("\\") else None
    if pending is None:
      joined.append((start, text))
  return joined


def readme_code_lines(text):
  """README.md's lines in code blocks (fenced, or indented 4 spaces after a blank line)."""
  code, fenced, previous_blank_or_code = [], False, True
  for line in text.splitlines():
    if line.lstrip().startswith("```"):
      fenced = not fenced
      code.append("")
      continue
    in_code = fenced or (line.startswith("    ") and previous_blank_or_code)
    code.append(line if in_code else "")
    previous_blank_or_code = in_code or not line.strip()
  return code


def examples():
  """(where, binary, printed args) of each example command in the help texts and README.md;
  a command naming a cluster (--ray_address) needs one and is left out."""
  found = []
  for binary in sorted(OWN_FLAGS):
    usage, _ = usage_and_flags(binary)
    found += [(f"{binary} --help:{i + 1}", line) for i, line in joined_lines(usage.splitlines())]
  readme = open(os.path.join(ROOT, "README.md")).read()
  found += [(f"README.md:{i + 1}", line) for i, line in joined_lines(readme_code_lines(readme))]
  return [(where, *command) for where, line in found for command in [project_command(line)] if command]


def project_command(line):
  """(binary, its args) if the line runs one of bin/ (bare or with .venv/bin/python), else None;
  None too for a cluster's command (--ray_address: it needs one)."""
  match = COMMAND.match(line)
  if not match or "--ray_address" in line:
    return None
  words = shlex.split(line, comments=True)
  return match.group(1), tuple(words[words.index(f"bin/{match.group(1)}") + 1:])


EXAMPLES = examples()


def test_examples_are_found_in_every_help_text():
  assert {binary for where, binary, _ in EXAMPLES if "--help" in where} == set(OWN_FLAGS)


def test_readme_commands_are_read_from_code_blocks_only():
  text = """Prose that names bin/spam_main --seeds=2 inline
bin/spam_main --at_the_start_of_a_prose_line

    make run     # = bin/spam_main --source=CartPole-v1
    .venv/bin/python bin/spam_sweep --sweep=configs/sweeps/smoke.gin \\
        --root_dir=runs/a   # a comment
    .venv/bin/tensorboard --logdir runs/a

- a list item
    bin/spam_main --a_list_items_continuation

```sh
bin/spam_report --root_dir='runs/a'
RAY_AUTH_MODE=token .venv/bin/python bin/spam_sweep --sweep=x.gin --root_dir=runs/b
bin/spam_sweep --sweep=x.gin --root_dir=runs/b --ray_address=HOST:6379
```
"""
  found = [(i + 1, project_command(line)) for i, line in joined_lines(readme_code_lines(text))]
  assert [(line, command) for line, command in found if command] == [
      (5, ("spam_sweep", ("--sweep=configs/sweeps/smoke.gin", "--root_dir=runs/a"))),
      (13, ("spam_report", ("--root_dir=runs/a",)))]


# Size overrides, appended after the printed flags (a later --seeds, --backend, --envs ...
# wins; --gin_file and --gin_bindings add to the printed ones).
SMOKE_GIN = ("gin_file", "configs/smoke.gin")
SMALL = {
    "spam_main": [SMOKE_GIN, ("backend", "inprocess")],
    "spam_sweep": [SMOKE_GIN, ("gin_bindings", "zoo.size=3"), ("gin_bindings", "train_genome.epochs=20"),
                   ("backend", "inprocess")],
    "spam_learners": [SMOKE_GIN, ("backend", "inprocess")],
    "spam_eval": [("episodes", "1")],
    "spam_report": [("bootstrap_reps", "100")],
    "spam_bench": [("rounds", "3"), ("split_iterations", "1"), ("pipeline", "none"), ("scaling_seeds", ""),
                   ("scaling_batch_steps", "300"), ("sweeps", "none"), ("envs", "CartPole-v1"),
                   ("gin_bindings", "train_eval.batch_steps=300"), ("gin_bindings", "train_eval.eval_episodes=1")],
    "spam_maps": [("bases", "CartPole-v1"), ("variants", "plain"), ("budgets", "300"), ("policies", "random"),
                  ("seeds", "1")],
}
# The root an example reads when no example writes the root it names: the smoke sweep's
# (the run of spam_sweep's example of it, when there is one).
SMOKE_ROOT = ("spam_sweep", ("--sweep=configs/sweeps/smoke.gin", "--root_dir=runs/smoke_sweep"))
READS = {"tuning_root_dir", "reuse_units_from", "source_expert_dir", "saved_model", "sweep_root"}
DEFAULT_ROOT = {"spam_main": lambda flags: f"runs/{flags.get('source', 'CartPole-v1')}_to_"
                                           f"{flags.get('target', 'InvertedPendulum-v4')}",
                "spam_sweep": lambda flags: None, "spam_learners": lambda flags: "runs/learners",
                "spam_maps": lambda flags: "runs/maps"}


def first_experiment(sweep_file, patterns):
  """The first experiment of a sweep file that matches the patterns (any, if none), from
  CartPole-v1 if one is (the source of the smoke root and of the first tries: experts and
  autoencoders an example links from another's root)."""
  text = re.sub(r"#.*", "", open(os.path.join(ROOT, sweep_file)).read())
  experiments = re.findall(r"\{[^{}]*'name':\s*'([^']+)'[^{}]*'source':\s*'([^']+)'", text)
  matching = [(name, source) for name, source in experiments
              if not patterns or any(fnmatch.fnmatch(name, p) for p in patterns)]
  return next((name for name, source in matching if source == "CartPole-v1"), matching[0][0])


def sized(binary, pairs):
  """The printed flags with the size overrides: one seed (a list's first: a tuning sweep keeps
  its seeds apart from the one it tunes), one experiment, one env, one candidate."""
  listed = lambda name: [item for n, v in pairs if n == name for item in (v or "").split(",") if item]
  if binary in ("spam_main", "spam_sweep", "spam_learners"):
    seeds = listed("seeds")
    pairs = pairs + [("seeds", f"{seeds[0]}," if len(seeds) > 1 else "1")]  # "100," is seed 100, "100" 100 seeds
  if binary == "spam_sweep":
    sweep = dict(pairs)["sweep"]
    pairs = [p for p in pairs if p[0] != "experiments"] + [
        ("experiments", first_experiment(sweep, listed("experiments")))]
  if binary == "spam_learners":
    pairs = pairs + [("envs", (listed("envs") or ["CartPole-v1"])[0]),
                     ("candidates", (listed("candidates") or ["defaults"])[0])]
  return pairs + [pair for pair in SMALL[binary] if pair not in pairs]


# Flags that add up when repeated; of any other the last occurrence wins.
REPEATED = {"gin_file", "gin_bindings", "reuse_units_from", "experiments", "methods"}


def canonical(pairs):
  """The flags as the binary reads them, in one order: a repeated flag's values in their
  order, of any other the last. Two examples that differ only in size become equal."""
  last = {name: i for i, (name, _) in enumerate(pairs)}
  kept = [(name, value) for i, (name, value) in enumerate(pairs) if name in REPEATED or last[name] == i]
  return sorted(kept, key=lambda pair: pair[0])


def read_path(name, value):
  """A path an example reads, as '{root:<the printed root>}<the rest>'; a placeholder such
  as <root_dir>/<path> is the smoke root (a SavedModel: its SPAM policy of seed 0)."""
  match = re.match(r"^(runs/[^/]+)(.*)$", value)
  if match:
    return "{root:%s}%s" % match.groups()
  if "<" in value:
    return "{root:}" + ("/units/target/CartPole-v1/spam/*/*/seed_0/saved_model" if name == "saved_model" else "")
  return value


def flag_pairs(args):
  """('--a=1', '--b', '2', '--c') -> [('a', '1'), ('b', '2'), ('c', None)] (no binary takes
  positional arguments: a word after a flag without '=' is its value)."""
  pairs = []
  for arg in args:
    if arg.startswith("--"):
      pairs.append(tuple(arg[2:].split("=", 1)) if "=" in arg else (arg[2:], None))
    else:
      pairs[-1] = (pairs[-1][0], arg)
  return pairs


def template(binary, args):
  """(argv with '{out}' for what the run writes and '{root:...}' for what it reads, the root
  it writes as printed or None)."""
  pairs = flag_pairs(args)
  writes = dict(pairs).get("root_dir") if binary in DEFAULT_ROOT else None
  if binary in DEFAULT_ROOT:
    writes = writes or DEFAULT_ROOT[binary](dict(pairs))
    pairs = [p for p in pairs if p[0] != "root_dir"] + [("root_dir", "{out}")]
  argv = []
  for name, value in canonical(sized(binary, pairs)):
    if name in READS or (binary == "spam_report" and name == "root_dir"):
      value = ",".join(read_path(name, item) for item in value.split(","))
    elif name in ("out_dir", "json"):
      value = f"{{out}}.{name}"
    argv.append(f"--{name}" if value is None else f"--{name}={value}")
  return tuple(argv), writes


@dataclasses.dataclass
class Run:
  """One run of the examples that differ only in size: where they are printed, the roots
  they write (as printed), its argv template and, once run, its root and process."""
  binary: str
  argv: tuple
  where: list = dataclasses.field(default_factory=list)
  writes: list = dataclasses.field(default_factory=list)
  out: str = ""

  def reads(self):
    return set(re.findall(r"\{root:([^}]*)\}", " ".join(self.argv)))


def planned_runs():
  runs = {}
  for where, binary, args in EXAMPLES:
    argv, writes = template(binary, args)
    run = runs.setdefault((binary, argv), Run(binary, argv))
    run.where.append(where)
    run.writes += [writes] if writes else []
  return list(runs.values())


def execute(run, roots, waits):
  """Runs `run` once the runs it reads from finished, its '{root:<printed>}' the root of the
  run that wrote it (else the smoke root) and a value's '*' filled in as a shell would (the
  examples print such a value after a space: '--saved_model runs/.../*/...')."""
  for wait in waits:
    wait.result()
  def root(match):
    return roots[match.group(1)] if match.group(1) in roots else roots[""]
  argv = []
  for arg in run.argv:
    arg = re.sub(r"\{root:([^}]*)\}", root, arg).replace("{out}", run.out)
    name, _, value = arg.partition("=")
    matches = sorted(glob.glob(value)) if "*" in value else []
    argv += [f"{name}={matches[0]}", *matches[1:]] if matches else [arg]
  return argv, invoke(run.binary, *argv)


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
  """{where printed: (argv, finished process)}: the smoke root first, then each run once the
  runs it reads finished, two at a time (2 cores)."""
  base = tmp_path_factory.mktemp("examples")
  runs = planned_runs()
  smoke_argv = template(*SMOKE_ROOT)[0]
  smoke = next((run for run in runs if (run.binary, run.argv) == (SMOKE_ROOT[0], smoke_argv)), None)
  runs = [run for run in runs if run is not smoke]
  smoke = smoke or Run(SMOKE_ROOT[0], smoke_argv)
  for i, run in enumerate([smoke, *runs]):
    run.out = str(base / f"{i}_{run.binary}")
  roots = {"": smoke.out}
  roots.update({printed: run.out for run in [smoke, *runs] for printed in run.writes if printed not in roots})
  producer = {printed: run for run in runs for printed in reversed(run.writes)}
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    started = {id(smoke): pool.submit(execute, smoke, roots, [])}
    for run in start_order(runs, producer):
      waits = [started[id(before)] for before in inputs(run, producer)]
      started[id(run)] = pool.submit(execute, run, roots, [started[id(smoke)], *waits])
    argv, proc = started[id(smoke)].result()
    assert proc.returncode == 0, (argv, proc.stderr[-3000:])
    return {where: started[id(run)].result() for run in [smoke, *runs] for where in run.where}


def inputs(run, producer):
  """The runs that write a root `run` reads (it starts after them)."""
  return [producer[p] for p in sorted(run.reads()) if p in producer and producer[p] is not run]


def start_order(runs, producer):
  """Each run after the runs it reads; among those, the ones more runs wait for first (the
  longest chain starts early)."""
  depth, before = {}, {}
  def visit(run):
    if id(run) not in depth:
      depth[id(run)] = 0  # a cycle stops here
      for other in inputs(run, producer):
        visit(other)
      depth[id(run)] = 1 + max((depth[id(r)] for r in inputs(run, producer)), default=0)
      before[id(run)] = {id(r) for r in inputs(run, producer)}.union(
          *(before.get(id(r), set()) for r in inputs(run, producer)))
  for run in runs:
    visit(run)
  waiting = {id(run): sum(id(run) in before[id(other)] for other in runs) for run in runs}
  return sorted(runs, key=lambda run: (depth[id(run)], -waiting[id(run)]))


PROJECT_LINE = re.compile(r"^(\[\d+:\d\d\] |note: |measuring |.*: \d+ units \(\d+ done\))")


@pytest.mark.parametrize("where", [where for where, _, _ in EXAMPLES])
def test_every_example_runs(where, example_runs):
  argv, proc = example_runs[where]
  assert proc.returncode == 0, (argv, proc.stderr[-3000:])
  assert not CHATTER.search(proc.stdout + proc.stderr), (argv, (proc.stdout + proc.stderr)[-3000:])
  assert all(PROJECT_LINE.match(line) for line in proc.stderr.splitlines()), (argv, proc.stderr[-3000:])
  assert proc.stdout.strip(), argv
