"""The package's layers: stages import the shared layers below them, never one another (README: layout).

Checked on the source's import statements (also those inside functions), so a lazy import cannot hide a
dependency that runs back up.
"""

import ast
from pathlib import Path

import reer

SOURCE = Path(reer.__file__).parent
# Lower rank = lower layer. A module may import its own package and anything of a lower rank.
RANKS = {
    "errors": 0,
    **dict.fromkeys(("language", "seeds", "cache", "packages", "prompts", "version", "display"), 1),
    **dict.fromkeys(("overlap", "records", "config"), 2),
    **dict.fromkeys(("backends", "store"), 3),
    "filters": 4,
    **dict.fromkeys(STAGES := ("data", "search", "export", "train", "eval"), 5),
    **dict.fromkeys(("cli", "demo", "experiment", "report", "__init__", "__main__"), 6),
}
TOP = 6


def top_package(module: str) -> str:
    return module.split(".")[1] if module.startswith("reer.") else "__init__"


def reer_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "reer":  # from reer import prompts
            found |= {f"reer.{alias.name}" if _is_module(alias.name) else "reer" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("reer."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "reer"}
    return found


def _is_module(name: str) -> bool:
    return (SOURCE / name).is_dir() or (SOURCE / f"{name}.py").exists()


def test_every_module_has_a_layer():
    packages = {p.stem if p.is_file() else p.name for p in SOURCE.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert packages - {"__pycache__"} == set(RANKS)


def test_no_import_runs_up_or_sideways():
    wrong = []
    for path in sorted(SOURCE.rglob("*.py")):
        here = path.relative_to(SOURCE).parts[0].removesuffix(".py")
        for module in reer_imports(path):
            there = top_package(module)
            if there != here and RANKS[there] >= RANKS[here] and RANKS[here] < TOP:
                wrong.append(f"{path.relative_to(SOURCE)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from reer.export.dataset import load_samples\n    import reer.eval\n    from reer import store\n"
    )
    assert reer_imports(module) == {"reer.export.dataset", "reer.eval", "reer.store"}
