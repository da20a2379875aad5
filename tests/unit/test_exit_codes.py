"""The README's exit-code table is the one the code has: every error class that sets an exit code
(found in the source, by ast) is in the row of its code, and the table names no other."""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO


def _declared() -> dict[str, int]:
    codes = {}
    for path in [
        *REPO.joinpath("portrait").rglob("*.py"),
        *REPO.joinpath("expectations").rglob("*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and [getattr(t, "id", None) for t in item.targets] == ["exit_code"]
                    and isinstance(item.value, ast.Constant)
                ):
                    codes[node.name] = item.value.value
    return codes


def _documented() -> dict[str, int]:
    readme = REPO.joinpath("README.md").read_text()
    table = readme[readme.index("| Exit | Error | Meaning |") :]
    codes = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        code, names = line.split("|")[1:3]
        for name in re.findall(r"`(\w+)`", names):
            codes[name] = int(code)
    return codes


def test_the_readme_lists_every_exit_code_the_code_sets():
    declared = _declared()
    assert {"PortraitError", "BuildBusy", "SnapshotsFailed", "OsError"} <= set(declared)
    assert _documented() == declared
