"""Dependencies flow one way: the command line sits on the library, the library never imports it, and the VAE
and robustness halves never import each other (deferred imports inside functions included)."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "vaeadv"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _library_modules() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts[:1]
            and p.name != "__main__.py"]


def test_library_never_imports_the_command_line():
    offenders = {str(p.relative_to(PACKAGE)): sorted(n for n in _imports(p) if n.startswith("vaeadv.cli"))
                 for p in _library_modules()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_two_halves_never_import_each_other():
    for half, other in (("vae", "vaeadv.robust"), ("robust", "vaeadv.vae")):
        for p in (PACKAGE / half).rglob("*.py"):
            assert not [n for n in _imports(p) if n.startswith(other)], p


def test_every_library_module_imports_with_the_cli_package_blocked():
    modules = sorted(".".join(("vaeadv", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
                     for p in _library_modules())
    code = ("import importlib, sys\nsys.modules['vaeadv.cli'] = None\n"
            f"for m in {modules!r}:\n    importlib.import_module(m)\n"
            f"assert not any(k.startswith('vaeadv.cli.') for k in sys.modules)\nprint(len({modules!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) == len(modules) > 30


def test_the_scanner_sees_deferred_imports(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    from vaeadv.cli.types import seed\n    import vaeadv.cli\n")
    assert {"vaeadv.cli.types", "vaeadv.cli.types.seed", "vaeadv.cli"} <= _imports(sample)


def test_no_module_imports_another_modules_private_names():
    """A module's private names (``_name``) are its own: what other modules need is public API, named as such."""
    offenders = {}
    for p in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vaeadv"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    offenders[str(p.relative_to(PACKAGE))] = private
    assert offenders == {}


def test_the_package_never_imports_the_maintenance_tools():
    assert {str(p.relative_to(PACKAGE)): sorted(n for n in _imports(p) if n.split(".")[0] == "tools")
            for p in PACKAGE.rglob("*.py") if any(n.split(".")[0] == "tools" for n in _imports(p))} == {}
