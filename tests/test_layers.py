"""The import direction of DESIGN.md's layer table, checked on the source, and a torch-free CLI start."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import attnsight

PACKAGE = Path(attnsight.__file__).parent
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


FILES = sorted(PACKAGE.rglob("*.py"))
NAMES = {_module_name(p) for p in FILES}


def _imports(path: Path) -> set[str]:
    return _imports_of(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")


def _imports_of(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every module a file imports, at top level or inside functions, relative imports resolved.

    `from attnsight.x import y` counts as importing attnsight.x.y when that is a module of the
    package, else attnsight.x (y is then a name defined there).
    """
    tree = ast.parse(source)
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in NAMES else module)
    return found


MODULES = {_module_name(p): _imports(p) for p in FILES}


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _own(imports: set[str]) -> set[str]:
    return {i for i in imports if _in(i, "attnsight")}


def _of(*packages: str) -> dict[str, set[str]]:
    mods = {m: imps for m, imps in MODULES.items() if _in(m, *packages)}
    assert mods, packages
    return mods


def test_the_parser_sees_the_package() -> None:
    assert {"attnsight.nn.attention", "attnsight.models.sasrec", "attnsight.recommender",
            "attnsight.train.trainer", "attnsight.data.readers"} <= set(MODULES)
    assert "torch" in MODULES["attnsight.nn.attention"]
    assert "attnsight.nn" in MODULES["attnsight.models.sasrec"]
    # a function-level import is seen too
    assert "attnsight" in MODULES["attnsight.models.base"]


FORBIDDEN_FOR_DATA = ("attnsight.nn", "attnsight.models", "attnsight.train", "attnsight.evaluate",
                      "attnsight.explain", "attnsight.recommender", "attnsight.classifier", "attnsight.scorer", "attnsight.cli",
                      "attnsight.serve", "attnsight.inference", "attnsight.report", "attnsight.tune")
ABOVE_LEARN = ("attnsight.recommender", "attnsight.classifier", "attnsight.scorer", "attnsight.explain",
               "attnsight.index", "attnsight.cli", "attnsight.serve", "attnsight.inference", "attnsight.report")


def test_data_layer() -> None:
    for module, imports in _of("attnsight.data").items():
        bad = {i for i in _own(imports) if _in(i, *FORBIDDEN_FOR_DATA)}
        assert not bad, f"{module} imports {bad}"
        assert all(_in(i, "attnsight.data", "attnsight.errors", "attnsight.files") for i in _own(imports)), module
    for name in ("attnsight.data.readers", "attnsight.data.cleaning", "attnsight.data.texts",
                 "attnsight.data.tokenizer", "attnsight.data.events"):
        torchy = {i for i in MODULES[name] if _in(i, "torch")}
        assert not torchy, f"{name} imports {torchy}"


def test_the_base_modules_import_only_each_other() -> None:
    """errors and files sit under every layer: what they import, every layer would."""
    for module, imports in _of("attnsight.errors", "attnsight.files").items():
        bad = {i for i in _own(imports) if not _in(i, "attnsight.errors")}
        assert not bad, f"{module} imports {bad}"


def test_core_layer_imports_torch_only() -> None:
    for module, imports in _of("attnsight.nn").items():
        bad = {i for i in imports if i.split(".")[0] not in STDLIB and not _in(i, "torch", "attnsight.nn")}
        assert not bad, f"{module} imports {bad}"


def test_model_layer() -> None:
    allowed = ("attnsight.nn", "attnsight.models", "attnsight.data", "attnsight.errors", "attnsight.files")
    for module, imports in _of("attnsight.models").items():
        # the top-level package only for __version__: its lazy names would pull in upper layers
        bad = {i for i in _own(imports) if i != "attnsight" and not _in(i, *allowed)}
        assert not bad, f"{module} imports {bad}"
    base = ast.parse((PACKAGE / "models" / "base.py").read_text(encoding="utf-8"))
    for node in ast.walk(base):
        if isinstance(node, ast.ImportFrom) and node.module == "attnsight":
            assert [a.name for a in node.names] == ["__version__"]


def test_learn_layer() -> None:
    for module, imports in _of("attnsight.train", "attnsight.evaluate").items():
        bad = {i for i in _own(imports) if _in(i, *ABOVE_LEARN)}
        assert not bad, f"{module} imports {bad}"


def test_use_layer() -> None:
    for module, imports in _of("attnsight.recommender", "attnsight.classifier", "attnsight.scorer",
                               "attnsight.explain", "attnsight.index").items():
        bad = {i for i in _own(imports) if _in(i, "attnsight.cli", "attnsight.serve")}
        assert not bad, f"{module} imports {bad}"


def test_the_parser_catches_a_violation() -> None:
    source = (
        "from attnsight.recommender import SequentialRecommender\n"
        "from ..train import trainer\n"
        "from . import sasrec\n"
        "def f():\n"
        "    import attnsight.cli\n"
    )
    imports = _imports_of(source, "attnsight.models.fake")
    assert imports == {"attnsight.recommender", "attnsight.train.trainer", "attnsight.models.sasrec", "attnsight.cli"}


@pytest.mark.parametrize("module", ["attnsight", "attnsight.cli"])
def test_import_does_not_load_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", f"import {module} loads torch"


def test_the_torch_check_can_fail() -> None:
    code = "import sys, attnsight.nn; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True"
