"""The walls of the house, read from the source (AST): what may import what, where SQL lives, what never sleeps.

Each wall is in ../shared/DESIGN.md; a change that breaks one fails here with the file and line that broke it.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Packages of pure rules: functions of their inputs and `now`; no store, no network, no web framework.
RULE_PACKAGES = ("bridge/handoff", "bridge/mapping", "bridge/sla", "bridge/feedback", "bridge/reconcile")
#: What a rule package may not import (it may use connectors.base for the shapes of fields and records).
NOT_IN_RULES = ("bridge.store", "bridge.worker", "bridge.web", "bridge.admin", "bridge.services", "bridge.app",
                "bridge.config", "bridge.cli", "connectors.hubspot", "connectors.salesforce", "connectors.kintone",
                "connectors.registry", "connectors.sandbox", "connectors._http", "connectors._rest", "flask",
                "requests", "sqlite3", "sqlite_utils", "click", "gunicorn")
#: Where the core may start the sandbox: the demo and the command that serves it.
MAY_IMPORT_SANDBOX = ("bridge/demo.py", "bridge/cli.py")
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+"
                 r"(UNIQUE\s+)?(TABLE|INDEX)|ALTER\s+TABLE|BEGIN\s+IMMEDIATE|SAVEPOINT)\b", re.IGNORECASE | re.DOTALL)


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        path = ROOT / folder
        yield from sorted(path.rglob("*.py")) if path.is_dir() else ([path] if path.exists() else [])


@functools.cache
def parsed(path: Path) -> ast.Module:
    """Each file parsed once for all the walls (they only read the trees)."""
    return ast.parse(path.read_text(encoding="utf-8"))


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file, function-level and TYPE_CHECKING ones included."""
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_rule_packages_import_nothing_with_side_effects():
    found = [f"{where(path, line)} imports {module}" for path in python_files(*RULE_PACKAGES)
             for line, module in imports(path) if within(module, NOT_IN_RULES)]
    assert found == []


def test_connectors_import_only_the_kernel_of_bridge():
    found = [f"{where(path, line)} imports {module}" for path in python_files("connectors")
             for line, module in imports(path)
             if within(module, ("bridge",)) and not within(module, ("bridge.kernel",))]
    assert found == []


def test_the_kernel_imports_nothing_else_of_bridge_and_no_connector():
    found = [f"{where(path, line)} imports {module}" for path in python_files("bridge/kernel")
             for line, module in imports(path)
             if (within(module, ("bridge",)) and not within(module, ("bridge.kernel",)))
             or within(module, ("connectors",))]
    assert found == []


def test_the_core_never_imports_the_sandbox():
    found = [f"{where(path, line)} imports {module}" for path in python_files("bridge")
             for line, module in imports(path)
             if within(module, ("connectors.sandbox",)) and str(path.relative_to(ROOT)) not in MAY_IMPORT_SANDBOX]
    assert found == []


def sql_strings(path: Path) -> Iterator[int]:
    """Lines of string constants that read as SQL statements (docstrings, which may name them, excepted)."""
    tree = parsed(path)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                and SQL.search(node.value):
            yield node.lineno


def test_sql_lives_only_in_the_store():
    """Bridge's own SQL (connectors speak SOQL and kintone's query language to their systems: not ours)."""
    product = [p for p in python_files("bridge", "wsgi.py") if "bridge/store/" not in p.as_posix()]
    found = [where(path, line) for path in product for line in sql_strings(path)]
    assert found == []


def calls(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every call, e.g. (12, "time.sleep"), (40, "connector.verify_webhook")."""
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            yield node.lineno, ".".join(reversed(parts))


def test_no_stage_and_no_connector_sleeps_waiting_for_a_remote_system():
    """A retry is a due time in a queue. (An idle lane waits on its stop event; that is not a sleep on a
    remote system, and it ends at once when the worker stops.)"""
    code = [p for p in python_files("bridge/worker", "connectors") if "connectors/sandbox/" not in p.as_posix()]
    found = [f"{where(path, line)} calls {name}" for path in code for line, name in calls(path)
             if name.endswith("sleep")]
    assert found == []


#: What the webhook surfaces may ask of a sender (a connector or the activities source): nothing that calls out.
WEBHOOK_SENDER_CALLS = {"webhook_problem", "verify_webhook", "parse_webhook", "acknowledge"}


@pytest.mark.parametrize("surface", ["bridge/web/webhooks.py", "bridge/web/activities.py"])
def test_the_webhook_surfaces_never_call_out(surface):
    path = ROOT / surface
    modules = [module for _, module in imports(path)]
    assert not any(within(m, ("requests", "urllib", "http.client", "connectors.registry")) for m in modules)
    asked = {name.split(".")[-1] for _, name in calls(path) if name.startswith(("sender.", "connector."))}
    assert asked <= WEBHOOK_SENDER_CALLS
