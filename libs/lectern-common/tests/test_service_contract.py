"""Every service is started through the one entry point, ``lectern_common.service_cli.run_service``.

A service's ``__main__.py`` is read (not run) and must be nothing but::

    from lectern_common.service_cli import run_service
    from lectern_<svc>.bootstrap import XApp
    from lectern_<svc>.settings import XSettings

    def main() -> int:
        return run_service(name="<svc>", settings_factory=XSettings, app_factory=XApp, ...)

    if __name__ == "__main__":
        raise SystemExit(main())

Keyword options (``loop=``, ``tune_process=``, ``migrations=``...) may name things, never call
them: whatever a service needs before its loop starts goes through ``run_service``'s options, so
no service grows its own start-up again. The app named by ``app_factory`` is the contract's
``XApp(settings)``: an async context manager with ``parts()``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SERVICES_DIR = Path(__file__).resolve().parents[3] / "services"


def main_modules() -> dict[str, Path]:
    found = {path.parents[2].name: path for path in SERVICES_DIR.glob("*/src/lectern_*/__main__.py")}
    assert found, f"no service __main__.py under {SERVICES_DIR}"
    return found


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Each name a ``from x import name`` brings in, with its module."""
    return {
        alias.asname or alias.name: node.module or ""
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def _is_main_guard(node: ast.stmt) -> bool:
    expected = ast.dump(ast.parse('if __name__ == "__main__":\n    raise SystemExit(main())').body[0])
    return ast.dump(node) == expected


def _statement_problems(tree: ast.Module, package: str) -> list[str]:
    problems = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module not in ("__future__", "lectern_common.service_cli") and not module.startswith(package + "."):
                problems.append(f"imports from {module} (only service_cli and {package}.* are needed)")
            continue
        if (isinstance(node, ast.FunctionDef) and node.name == "main") or _is_main_guard(node):
            continue
        problems.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0]!r} does more than call run_service")
    return problems


def _run_service_call(tree: ast.Module) -> ast.Call | None:
    main = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"), None)
    if main is None or len(main.body) != 1 or not isinstance(main.body[0], ast.Return):
        return None
    call = main.body[0].value
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "run_service":
        return call
    return None


def _call_problems(call: ast.Call, service: str, imported: dict[str, str]) -> list[str]:
    package = f"lectern_{service}"
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    problems = [f"run_service's {k!r} calls something" for k, v in keywords.items() if _calls(v)]
    if call.args:
        problems.append("run_service takes keywords only")
    name = keywords.get("name")
    if not (isinstance(name, ast.Constant) and name.value == service):
        problems.append(f"run_service(name=...) is not {service!r}")
    for keyword, module in (("app_factory", f"{package}.bootstrap"), ("settings_factory", f"{package}.settings")):
        value = keywords.get(keyword)
        if not (isinstance(value, ast.Name) and imported.get(value.id) == module):
            problems.append(f"run_service's {keyword} is not a name imported from {module}")
    return problems


def _calls(node: ast.AST) -> bool:
    return any(isinstance(inner, ast.Call) for inner in ast.walk(node))


def contract_problems(service: str, path: Path) -> list[str]:
    """Why ``path`` (the __main__ of ``service``) is more than a call of run_service; [] if it is not."""
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = _statement_problems(tree, f"lectern_{service}")
    call = _run_service_call(tree)
    if call is None:
        return [*problems, "main() is not `return run_service(...)`"]
    return problems + _call_problems(call, service, _imported_names(tree))


@pytest.mark.parametrize("service", sorted(main_modules()))
def test_the_service_main_does_nothing_but_call_run_service(service: str) -> None:
    assert contract_problems(service, main_modules()[service]) == []


@pytest.mark.parametrize("service", sorted(main_modules()))
def test_the_app_it_serves_is_the_contracts_app(service: str) -> None:
    tree = ast.parse(main_modules()[service].read_text())
    call = _run_service_call(tree)
    assert call is not None
    factory = next(k.value for k in call.keywords if k.arg == "app_factory")
    assert isinstance(factory, ast.Name)
    app_class = getattr(importlib.import_module(f"lectern_{service}.bootstrap"), factory.id)

    assert isinstance(app_class, type), "XApp(settings) is a class"
    for method in ("parts", "__aenter__", "__aexit__"):
        assert callable(getattr(app_class, method, None)), f"{app_class.__name__} has no {method}"


def test_the_check_refuses_a_main_that_does_its_own_start_up(tmp_path: Path) -> None:
    """The checker itself: a hand-rolled entry point (the shape upload's had before issue 15) is refused."""
    main = tmp_path / "__main__.py"
    main.write_text(
        "import asyncio\n"
        "from lectern_common.runtime import run_on_fastest_loop\n"
        "from lectern_common.service_cli import run_service\n"
        "from lectern_probe.bootstrap import ProbeApp\n"
        "from lectern_probe.settings import ProbeSettings\n"
        "tune()\n"
        "def main() -> int:\n"
        "    return run_service(name='probe', settings_factory=ProbeSettings, app_factory=ProbeApp,\n"
        "                       package_file=__file__, tune_process=make_tuner())\n"
        "if __name__ == '__main__':\n"
        "    raise SystemExit(main())\n"
    )

    problems = contract_problems("probe", main)

    assert any("'tune()' does more than call run_service" in p for p in problems)
    assert any("does more than call run_service" in p and "import asyncio" in p for p in problems)
    assert "imports from lectern_common.runtime (only service_cli and lectern_probe.* are needed)" in problems
    assert "run_service's 'tune_process' calls something" in problems
    assert len(problems) == 4
