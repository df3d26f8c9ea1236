"""The package's shape: layers whose imports point only downward, readable functions and modules."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "spam_tf"
# Lowest first: a module may import from its own layer and the ones before it.
LAYERS = {"files": 0, "terminal": 0, "rl": 1, "spam": 2, "analysis": 3, "running": 4, "cli": 5}


def layer(module):
  """'spam_tf.rl.train' -> 'rl'; 'spam_tf.files' -> 'files'; 'spam_tf' -> None."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else None


def modules():
  for path in sorted(PACKAGE.rglob("*.py")):
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    yield name.removesuffix(".__init__"), path


def project_imports(module, path):
  """The spam_tf modules a module imports, anywhere in it (functions included)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found |= {alias.name for alias in node.names if alias.name.startswith("spam_tf.")}
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spam_tf"):
      # "from spam_tf.rl import train" imports spam_tf.rl.train; "from spam_tf import files" spam_tf.files
      found |= {f"{node.module}.{alias.name}" if node.module.count(".") == 0 else node.module
                for alias in node.names}
  return found


def test_every_module_is_in_a_known_layer():
  unknown = [name for name, _ in modules() if layer(name) is not None and layer(name) not in LAYERS]
  assert not unknown, f"modules outside the layers {sorted(LAYERS)}: {unknown}"


def test_imports_point_only_downward():
  upward = []
  for name, path in modules():
    if layer(name) is None:
      continue
    for imported in project_imports(name, path):
      if layer(imported) is not None and LAYERS[layer(imported)] > LAYERS[layer(name)]:
        upward.append(f"{name} imports {imported}")
  assert not upward, upward


def test_the_layer_check_sees_an_upward_import(tmp_path):
  """The check above can fail: an rl module importing the running layer is caught."""
  path = tmp_path / "train.py"
  path.write_text("def f():\n  from spam_tf.running import sweep\n")
  imported = project_imports("spam_tf.rl.train", path)
  assert imported == {"spam_tf.running"} and LAYERS[layer("spam_tf.running.sweep")] > LAYERS["rl"]


def test_functions_and_modules_read_at_once():
  """No function over 60 lines, no module over 400 (WORKSPACE.md: a reader takes one in at once)."""
  long_functions, long_modules = [], []
  for name, path in modules():
    source = path.read_text()
    if len(source.splitlines()) > 400:
      long_modules.append(name)
    for node in ast.walk(ast.parse(source)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
        long_functions.append(f"{name}.{node.name} ({node.end_lineno - node.lineno + 1} lines)")
  assert not long_functions and not long_modules, (long_functions, long_modules)
