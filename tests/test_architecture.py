"""The shape of the code (docs/architecture.md), kept true by tests:

- imports point down: core ← notices ← groups ← booking ← payments ← referrals ← care ←
  frontend. A module imports from its own app and lower ones only; no app imports
  ``config`` (settings come through ``django.conf``), the sandboxes (started as processes)
  nor the tests;
- one module per third-party SDK: only ``payments/stripe_gateway.py`` imports ``stripe``,
  only ``groups/facebook.py`` imports ``facebook``, only ``notices/push.py`` imports
  ``pywebpush`` (and its ``py_vapid``);
- the models and the migrations agree (``makemigrations --check`` has nothing to write).
"""

import ast
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "notices", "groups", "booking", "payments", "referrals", "care", "frontend"]
FORBIDDEN_EVERYWHERE = {"config", "tests", "sandboxes"}
SDK_HOMES = {
    "stripe": "payments/stripe_gateway.py",
    "facebook": "groups/facebook.py",
    "pywebpush": "notices/push.py",
    "py_vapid": "notices/push.py",
}


def _module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: str, source: str) -> list[tuple[int, str]]:
    """Every module the source imports, absolute, with its line: ``import x``, ``from x
    import y``, relative imports, and ``import_module("x")`` / ``__import__("x")``."""
    package = _module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _violations(path: str, source: str) -> list[str]:
    own = path.split("/")[0]
    problems = []
    for line, module in _imported_modules(path, source):
        top = module.split(".")[0]
        where = f"{path}:{line} imports {module}"
        if top in FORBIDDEN_EVERYWHERE:
            problems.append(f"{where}: apps never import {top}")
        elif own in LAYERS and top in LAYERS and LAYERS.index(top) > LAYERS.index(own):
            problems.append(f"{where}: {own} sits below {top}")
        if top in SDK_HOMES and path != SDK_HOMES[top]:
            problems.append(f"{where}: only {SDK_HOMES[top]} may import {top}")
    return problems


def _sources(*folders: str) -> list[tuple[str, str]]:
    files = []
    for folder in folders:
        for file in sorted((ROOT / folder).rglob("*.py")):
            files.append((file.relative_to(ROOT).as_posix(), file.read_text(encoding="utf-8")))
    return files


def test_the_layer_checker_catches_upward_relative_dynamic_and_config_imports():
    """The rule below is only worth something if it can fail."""
    assert _violations("booking/services.py", "from payments import services") != []
    assert _violations("groups/models.py", "def f():\n    import booking.models\n") != []
    assert _violations("booking/sub/mod.py", "from ...referrals import x") != []
    assert _violations("core/x.py", "importlib.import_module('frontend.views')") != []
    assert _violations("payments/models.py", "from config import settings") != []
    assert _violations("frontend/views.py", "from tests import factories") != []
    assert _violations("booking/api.py", "import stripe") != []
    assert _violations("payments/views.py", "from facebook import GraphAPI") != []
    assert _violations("notices/sending.py", "from pywebpush import webpush") != []
    # …and lets the allowed shapes through.
    assert (
        _violations("frontend/views.py", "from booking import selectors\nfrom core import x") == []
    )
    assert _violations("booking/sub/mod.py", "from ..models import Seat\nfrom . import y") == []
    assert _violations("payments/stripe_gateway.py", "import stripe") == []
    assert _violations("groups/facebook.py", "import facebook") == []
    assert _violations("notices/push.py", "from pywebpush import webpush") == []
    assert _violations("booking/x.py", "from django.conf import settings") == []


def test_the_apps_import_only_from_themselves_and_the_layers_below():
    files = _sources(*LAYERS)
    assert len(files) > 20, "the scan found too few modules to mean anything"
    problems = [p for path, source in files for p in _violations(path, source)]
    assert problems == []


def test_only_the_gateways_import_the_stripe_facebook_and_web_push_sdks():
    files = _sources(*LAYERS, "config") + [
        (name, (ROOT / name).read_text(encoding="utf-8")) for name in ("asgi.py", "manage.py")
    ]
    problems = [p for path, source in files for p in _violations(path, source) if "may import" in p]
    assert problems == []


@pytest.mark.django_db
def test_the_migrations_match_the_models():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"makemigrations has changes to write (exit {exit_.code}):\n{out.getvalue()}")


# --- An app renders only its own templates ----------------------------------------------------

_TEMPLATE_NAME = re.compile(r"^([a-z_]+)/[\w/.-]+\.(?:html|txt|svg|ics)$")


def _foreign_templates(path: str, source: str) -> list[str]:
    """Template names of another of our apps that a module of ``path``'s app names (to
    render, include or pass on): ``frontend/...`` named from ``referrals``, say. A
    template's own ``{% extends %}`` of the site's frame is the template's affair, not
    the module's."""
    own = path.split("/")[0]
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _TEMPLATE_NAME.match(node.value)
            if match and match.group(1) in LAYERS and match.group(1) != own:
                found.append(f"{path}:{node.lineno} names {node.value}")
    return found


def test_the_template_checker_catches_another_apps_template():
    assert _foreign_templates("referrals/x.py", 'render(r, "frontend/trips/a.html")') != []
    assert _foreign_templates("referrals/x.py", 'T = "referrals/landing.html"') == []
    assert _foreign_templates("groups/x.py", 'T = "socialaccount/login.html"') == []  # allauth's


def test_each_app_renders_only_its_own_templates():
    files = [(p, s) for p, s in _sources(*LAYERS) if "/migrations/" not in p]
    problems = [p for path, source in files for p in _foreign_templates(path, source)]
    assert problems == []


# --- No import circle inside an app -------------------------------------------------------------


def _app_import_graph(app: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path, source in _sources(app):
        if "/migrations/" in path:
            continue
        name = _module_name(path)
        graph[name] = {module for module in _imported_names(path, source) if module != name}
    return {
        name: {m if m in graph else m.rsplit(".", 1)[0] for m in imports} & graph.keys() - {name}
        for name, imports in graph.items()
    }


def _imported_names(path: str, source: str) -> set[str]:
    """What a module imports, each ``from package import name`` also as
    ``package.name`` (a module of the package, or a name in its ``__init__``)."""
    names = {module for _, module in _imported_modules(path, source)}
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module → modules it imports, at any depth of the
    code: a function-level import that breaks a circle at import time still ties the two
    modules together)."""
    found, seen = [], set()

    def visit(node: str, stack: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in stack:
                circle = stack[stack.index(target) :]
                key = frozenset(circle)
                if key not in seen:
                    seen.add(key)
                    found.append([*circle, target])
            elif target in graph and target not in done:
                visit(target, [*stack, target])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    return found


def test_the_circle_checker_finds_a_circle():
    assert _circles({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}}) != []
    assert _circles({"a.x": {"a.y"}, "a.y": set(), "a.z": {"a.y"}}) == []


@pytest.mark.parametrize("app", LAYERS)
def test_no_app_has_an_import_circle_inside_it(app):
    assert _circles(_app_import_graph(app)) == []


# --- Doors make no ORM writes -------------------------------------------------------------------

# The modules that are doors: they translate a request, a socket frame or a callback into a
# service call (or a selector read) and the answer back; the services write.
_DOOR_FILES = (
    "api.py",
    "plan_api.py",
    "disruption_api.py",
    "consumers.py",
    "callbacks.py",
    "dashboard.py",
)
_ALWAYS_WRITES = {"save", "bulk_create", "bulk_update", "get_or_create", "update_or_create"}
_QUERY_WRITES = {"create", "update", "delete", "select_for_update"}


def _is_door(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name in _DOOR_FILES or name.startswith("views")


def _attribute_chain(node) -> list[str]:
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            if isinstance(node, ast.Name):
                parts.append(node.id)
            return parts[::-1]


def _orm_writes(path: str, source: str) -> list[str]:
    """ORM writes written in ``source``: ``x.save()`` and the like, or a write or lock
    (``create``, ``update``, ``delete``, ``select_for_update``) on a manager or queryset."""
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, _attribute_chain(node.func.value)
        queryset = "objects" in receiver or {"filter", "exclude", "all"} & set(receiver)
        if method in _ALWAYS_WRITES or (method in _QUERY_WRITES and queryset):
            found.append(f"{path}:{node.lineno} {'.'.join([*receiver, method])}()")
    return found


def test_the_write_checker_catches_orm_writes():
    assert _orm_writes("x/api.py", "Trip.objects.create(a=1)") != []
    assert _orm_writes("x/api.py", "Trip.objects.filter(a=1).update(b=2)") != []
    assert _orm_writes("x/api.py", "trip.save(update_fields=['a'])") != []
    assert _orm_writes("x/api.py", "TripPresence.objects.filter(c=1).delete()") != []
    assert _orm_writes("x/api.py", "context.update(a=1)\nresponse.delete_cookie('x')") == []


def test_doors_make_no_orm_writes():
    doors = [(p, s) for p, s in _sources(*LAYERS) if _is_door(p)]
    assert len(doors) > 8, "the scan found too few doors to mean anything"
    problems = [p for path, source in doors for p in _orm_writes(path, source)]
    assert problems == []
