"""The package's shape: no import cycles, and its first users import only public names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import douyin_async

ROOT = Path(douyin_async.__file__).parent
REPO = ROOT.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in ``path``, at any depth, ``TYPE_CHECKING`` blocks included."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names]))
    return found


def package_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names in imports_of(path):
            # ``from . import x`` may name a submodule rather than an attribute.
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            graph[name].update(c for c in candidates if c in modules and c != name)
    return graph


def test_no_import_cycles_among_the_package_modules() -> None:
    graph = package_graph()
    assert len(graph) > 20
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt):], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


FIRST_USERS = [
    *sorted((ROOT / "cli").glob("*.py")),
    ROOT / "testing.py",
    *sorted((REPO / "benchmarks").glob("*.py")),
]


SHARED_MACHINERY = {"douyin_async._locks", "douyin_async.sinks._rows"}
"""Private modules the command line shares with the package: machinery, not API (one lock pattern,
one flat form of a video for the CSV and the tables)."""


@pytest.mark.parametrize("path", FIRST_USERS, ids=lambda p: str(p.relative_to(REPO)))
def test_first_users_import_only_public_names(path: Path) -> None:
    name = module_name(path)
    own = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for target, names in imports_of(path):
        if not target.startswith("douyin_async"):
            continue
        if own != "douyin_async" and target.startswith(f"{own}."):
            continue  # the user's own helper modules
        if target in SHARED_MACHINERY and own == "douyin_async.cli":
            continue
        private = [part for part in target.split(".") if part.startswith("_")]
        assert not private, f"{path.name} imports the private module {target}"
        if target == "douyin_async":
            hidden = [name for name in names if name not in douyin_async.__all__]
            assert not hidden, f"{path.name} imports names that are not public: {hidden}"


def test_the_shared_throttle_is_public_and_optional() -> None:
    """``douyin_async.redis`` is RedisThrottle's public home; the package itself never imports redis."""
    import douyin_async.redis

    assert douyin_async.redis.__all__ == ["RedisThrottle"]
    assert "ThrottleUnavailableError" in douyin_async.__all__
    probe = "import sys, douyin_async, douyin_async.errors; print('redis' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
