"""The package's house rules: layers as folders that import only downward, no import cycles (lazy
imports inside functions included), small modules and small folders."""
import ast

from conftest import ROOT

PACKAGE = ROOT / "muzero_lite"
# a module imports only from its own folder or from lower layers; envs and data are side by side
LAYERS = {"config": 0, "algorithm": 1, "envs": 2, "data": 2, "reporting": 3, "processes": 4, "cli": 5, "__main__": 6}
MAX_LINES = 350            # the config schema alone may be longer
MAX_MODULES = 12


def modules() -> dict:
    """Dotted module name -> path, for every module of the package."""
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.with_suffix("").relative_to(ROOT).parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imports(mods: dict) -> dict:
    """Module -> the package modules it imports, at the top or inside functions."""
    edges = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("muzero_lite"):
                found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names}
        edges[name] = found - {name}
    return edges


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def test_every_import_goes_down_or_stays_in_its_folder():
    edges = imports(modules())
    assert len(edges) > 30
    wrong = [(a, b) for a, targets in edges.items() for b in targets
             if layer(b) > layer(a) or (layer(a) == layer(b) == 2 and a.split(".")[1] != b.split(".")[1])]
    assert not wrong


def test_no_import_cycles():
    edges = imports(modules())
    state: dict = {}

    def visit(m, path):
        state[m] = "open"
        for n in edges.get(m, ()):
            assert state.get(n) != "open", " -> ".join(path + [n])
            if n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in edges:
        if m not in state:
            visit(m, [m])


def test_modules_and_folders_stay_small():
    for name, path in modules().items():
        if name != "muzero_lite.config":
            assert len(path.read_text().splitlines()) <= MAX_LINES, name
    for folder in [PACKAGE, *(p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")]:
        assert len([p for p in folder.glob("*.py") if p.name != "__init__.py"]) <= MAX_MODULES, folder.name
