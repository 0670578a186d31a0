"""The package layering the README's Layout table promises: no module imports from a layer above it, no import loops.

Layers, lowest first: lakehouse, features, models, streaming | batch,
dashboard, commands | simulation. `streaming` and `batch` are one layer and
never import each other; `simulation` (demo code) is imported by no library
package. Both checks read the source (ast), so a lazy import inside a
function counts too.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = {"lakehouse": 0, "features": 1, "models": 2, "streaming": 3, "batch": 3, "dashboard": 4,
         "commands": 5, "simulation": 5}


def _imports() -> dict[str, set[str]]:
    """Module name -> the project modules it imports (anywhere in its body)."""
    modules = {}
    for package in LAYER:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found = set()
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
                elif isinstance(node, ast.Import):
                    found |= {a.name for a in node.names}
            modules[name] = {m for m in found if m.split(".")[0] in LAYER}
    return {name: {m for m in targets if m in modules} for name, targets in modules.items()}


def test_no_module_imports_from_a_layer_above_or_beside_it():
    wrong = []
    for name, targets in _imports().items():
        own = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != own and LAYER[other] >= LAYER[own]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_loops():
    graph = _imports()
    loops, state = [], {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if target == name or target.startswith(name + "."):
                continue  # a package importing its own submodule
            if state.get(target) == "open":
                loops.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not loops, "\n".join(loops)
