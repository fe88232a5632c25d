"""Imports point down only: app -> training -> core <- devices, and inside core the streams wing
(the source contract, clock, buffer, window) imports no other wing. app/cli holds no Qt: it imports
no Qt binding anywhere and app/gui (which imports Qt at module level) only inside a handler.

Every module is parsed (ast), not imported, so an import inside a function counts as well."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGES = {"core": "c3t.core", "devices": "c3t.devices", "training": "c3t.training", "app": "c3t.app"}
# a module under the key may not import a module starting with any of the values
FORBIDDEN = {
    "c3t.core": ("c3t.devices", "c3t.training", "c3t.app"),
    "c3t.devices": ("c3t.training", "c3t.app"),
    "c3t.training": ("c3t.app",),
    "c3t.core.streams": ("c3t.core.model", "c3t.core.session", "c3t.core.sim"),
}
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "pyqtgraph", "shiboken6")


def module_name(path: Path, root: Path) -> str:
    """c3t's dotted name of the source file `path` under the checkout `root`."""
    parts = path.relative_to(root).with_suffix("").parts
    name = ".".join([PACKAGES[parts[0]], *parts[1:]])
    return name.removesuffix(".__init__")


def imports(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in the file; relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found += [(f"{base}.{alias.name}" if node.module is None else base, node.lineno, id(node) in top)
                      for alias in node.names]
    return found


def layering_problems(root: Path) -> list[str]:
    """Every upward import and every Qt import in app/cli under the checkout `root`, in words."""
    problems = []
    for folder in PACKAGES:
        for path in sorted((root / folder).rglob("*.py")):
            module = module_name(path, root)
            for imported, line, top_level in imports(path, module):
                where = f"{path.relative_to(root)}:{line}"
                for layer, banned in FORBIDDEN.items():
                    if (module == layer or module.startswith(layer + ".")) and imported.startswith(banned):
                        problems.append(f"{where}: {module} imports {imported} (an upward import)")
                if module.startswith("c3t.app.cli"):
                    if imported.split(".")[0] in QT:
                        problems.append(f"{where}: app/cli imports Qt ({imported}); Qt code belongs in app/gui")
                    elif top_level and imported.startswith("c3t.app.gui"):
                        problems.append(f"{where}: app/cli imports {imported} at module level (it imports Qt)")
    return problems


def test_no_upward_import_and_no_qt_in_the_commands():
    assert layering_problems(REPO) == []


def test_the_check_finds_an_upward_import_and_qt_in_a_command(tmp_path):
    for folder in PACKAGES:
        (tmp_path / folder).mkdir()
    (tmp_path / "core" / "streams").mkdir()
    (tmp_path / "app" / "cli").mkdir()
    (tmp_path / "core" / "streams" / "clock.py").write_text("def f():\n    from ..model import networks\n")
    (tmp_path / "devices" / "serial_imu.py").write_text("from c3t.training.methods import fit\n")
    (tmp_path / "app" / "cli" / "live.py").write_text("from PySide6 import QtCore\nfrom c3t.app.gui import main\n"
                                                       "def f():\n    from c3t.app.gui.start import qt_app\n")
    problems = layering_problems(tmp_path)
    assert len(problems) == 4, problems
    assert "core/streams/clock.py:2: c3t.core.streams.clock imports c3t.core.model (an upward import)" in problems
    assert any("devices/serial_imu.py:1" in p and "c3t.training.methods" in p for p in problems)
    assert sum("app/cli/live.py" in p for p in problems) == 2   # the import inside f() is allowed
