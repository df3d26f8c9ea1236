"""The files of a bin/spam_maps root_dir (spam_tf/running/map_recovery.py): rows.jsonl (a
case's row per line, appended as cases end), settings.json (what a rerun must match) and
invocations.jsonl (each invocation's command, cases and times). A line a kill cut short is
left out when read and ended before the next is appended, so a stopped run resumes."""
import json
import os
import sys
import time

from spam_tf import files

ROWS_FILE, SETTINGS_FILE, INVOCATIONS_FILE = "rows.jsonl", "settings.json", "invocations.jsonl"


def _json_lines(path):
  """The records of a JSON-lines file (none if it is missing)."""
  if not os.path.exists(path):
    return []
  records = []
  with open(path) as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:  # a line a kill cut short (or an empty one)
        continue
  return records


def _append_line(path, record):
  """One complete JSON line, on disk before this returns."""
  text = json.dumps(record) + "\n"
  if os.path.exists(path) and os.path.getsize(path):
    with open(path, "rb") as f:
      f.seek(-1, os.SEEK_END)
      text = ("" if f.read(1) == b"\n" else "\n") + text  # end a cut line: this one parses
  with open(path, "a") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())


def case_key(row):
  return row["base"], row["variant"], row["budget"], row["policy"], row["seed"]


def read_rows(root_dir):
  """{case key (base, variant, budget, policy, seed): row} of root_dir's rows.jsonl."""
  return {case_key(row): row for row in _json_lines(os.path.join(root_dir, ROWS_FILE))}


def append_row(root_dir, row):
  """Adds a row; returns it as a rerun reads it (tuples as lists)."""
  _append_line(os.path.join(root_dir, ROWS_FILE), row)
  return json.loads(json.dumps(row))


def read_invocations(root_dir):
  """The recorded invocations of root_dir, oldest first (record_invocation's lines)."""
  return _json_lines(os.path.join(root_dir, INVOCATIONS_FILE))


def record_invocation(root_dir, computed, planned, wall_seconds, cpu_seconds):
  """One line per invocation: its command, the cases it computed of those it set out to,
  its wall and CPU seconds (its own process: envs, fits, searches, experts)."""
  _append_line(os.path.join(root_dir, INVOCATIONS_FILE),
               {"command": " ".join(sys.argv), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "computed": computed, "planned": planned, "wall_seconds": wall_seconds, "cpu_seconds": cpu_seconds})


def check_settings(root_dir, wanted):
  """Records the settings (a dict) in a new root_dir; refuses other ones in an old one (one line)."""
  path = os.path.join(root_dir, SETTINGS_FILE)
  if not os.path.exists(path):
    files.write_json(path, wanted)
    return
  held = files.read_json(path)
  if held != wanted:
    changed = ", ".join(f"{k} {held.get(k)} -> {v}" for k, v in wanted.items() if held.get(k) != v)
    raise ValueError(f"{root_dir} holds rows made with other settings ({changed}): use another --root_dir")


def read_settings(root_dir):
  return files.read_json(os.path.join(root_dir, SETTINGS_FILE))
