"""Prompt templates (`prompts:`): compiled once per config into the routing table, rendered per request.

Templates are Jinja2 in `ImmutableSandboxedEnvironment` with `StrictUndefined` (a name the request does
not give is an error unless the template says `| default(...)`). Variables reach a template as data: a
value is never itself parsed as a template, so `{{ 7*7 }}` sent as a value arrives as those characters.
Values are any JSON value (string, number, boolean, null, list, object): templates can loop over a list
or read an object's keys, and the sandbox refuses every attribute that could reach Python internals.

What the sandbox would refuse at request time is looked for statically too, so `gateway validate` names
it at its file and line: an attribute starting with `_` or known to reach interpreter internals
(`mro`, `gi_frame`, ...), a call to a method that would modify a value (`append`, `update`, ...), and a
constant format string (`'{0.__class__}'.format(x)`) reaching such an attribute.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

# Attributes the sandbox refuses on some object (jinja2.sandbox.is_internal_attribute), by name alone:
# a template has no business with any of them.
_INTERNAL = frozenset(
    {
        "mro",
        "func_code",
        "func_globals",
        "func_closure",
        "im_class",
        "im_func",
        "im_self",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "ag_await",
    }
)
# Methods that modify a list, dict or set: the immutable sandbox refuses calling them.
_MUTATING = frozenset(
    {
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "reverse",
        "sort",
        "clear",
        "update",
        "setdefault",
        "popitem",
        "add",
        "discard",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    }
)
# The only globals a template sees; Jinja's others (cycler, joiner, lipsum) serve no prompt.
_GLOBALS = ("range", "dict", "namespace")


# One `*` may build at most this many items (characters of a string, items of a list), and `**` on
# integers at most this many bits: the sandbox bounds `range` but not these, and a request's value
# (`{{ '-' * width }}` with width 10**12) must not make the gateway allocate or compute without end.
MAX_REPEAT = 1_000_000
MAX_POWER_BITS = 4096


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with `*` and `**` bounded (intercepted operators are also not folded at
    compile time, so `{{ 10 ** 10 ** 10 }}` in a template does not hang `gateway validate` either)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_REPEAT:
                    raise SecurityError(f"'*' would build more than {MAX_REPEAT} items")
        elif isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_POWER_BITS:
            raise SecurityError(f"'**' would build an integer of more than {MAX_POWER_BITS} bits")
        return super().call_binop(context, operator, left, right)


def environment() -> ImmutableSandboxedEnvironment:
    # No autoescape: the output is model input, not HTML. Blocks keep their newlines as written.
    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals = {name: env.globals[name] for name in _GLOBALS}
    return env


ENV = environment()


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    required: bool = False
    default: Any = None
    has_default: bool = False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"required": self.required}
        if self.has_default:
            out["default"] = self.default
        return out


@dataclass(frozen=True, slots=True)
class Prompt:
    """One compiled prompt: its templates (parsed once) and what it declares."""

    name: str
    model: str
    system: Template | None
    messages: tuple[tuple[str, Template], ...]  # (role, content)
    variables: Mapping[str, Variable]
    params: Mapping[str, Any]

    def render(
        self, given: Mapping[str, Any], limit: int = 32 * 1024 * 1024
    ) -> tuple[str | None, list[dict[str, str]]]:
        """(system, messages) with `given`; GatewayError-free: raises RenderError with a message for a
        400 naming what is wrong. `limit` bounds the rendered text (characters, all templates together):
        the gateway builds no request larger than one it would accept from a client."""
        unknown = sorted(set(given) - set(self.variables))
        if unknown:
            declared = ", ".join(sorted(self.variables)) or "none"
            raise RenderError(
                f"unknown variables: {', '.join(unknown)} (prompt {self.name!r} declares: {declared})"
            )
        missing = sorted(n for n, v in self.variables.items() if v.required and n not in given)
        if missing:
            raise RenderError(f"missing required variables: {', '.join(missing)}")
        context = {n: v.default for n, v in self.variables.items() if v.has_default}
        context.update(given)
        budget = [limit]
        try:
            system = _render(self.system, context, budget) if self.system is not None else None
            messages = [{"role": role, "content": _render(t, context, budget)} for role, t in self.messages]
        except SecurityError as exc:
            raise RenderError(f"the template sandbox refused: {exc}") from None
        except UndefinedError as exc:
            raise RenderError(f"the template reads something the request does not give: {exc}") from None
        except TemplateError as exc:
            raise RenderError(f"the template could not be rendered: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            # A value of a type the template did not expect (a loop over a number, ...).
            raise RenderError(f"the template could not be rendered with these values: {exc}") from None
        return system, messages


class RenderError(Exception):
    """A prompt that cannot be rendered with the variables given: the client's mistake (a 400)."""


def _render(template: Template, context: Mapping[str, Any], budget: list[int]) -> str:
    """The template's text, generated piece by piece so that a loop over a large value stops as soon as
    the text outgrows what is left of `budget` (updated in place) instead of after building all of it."""
    parts = []
    for part in template.generate(context):
        budget[0] -= len(part)
        if budget[0] < 0:
            raise RenderError("the rendered prompt is larger than server.max_body allows")
        parts.append(part)
    return "".join(parts)


def parse(source: str) -> tuple[nodes.Template | None, str | None]:
    """The template's AST, or the syntax error's message."""
    try:
        return ENV.parse(source), None
    except TemplateSyntaxError as exc:
        return None, f"template does not parse (line {exc.lineno} of the template): {exc.message}"


def compile_template(ast: nodes.Template | None) -> Template:
    """A parsed template compiled in the sandbox (None: an empty one, for a config already rejected). The
    only place templates are built from text: config text, reviewed like code; request data only ever
    reaches `render` as values."""
    return ENV.from_string(ast if ast is not None else "")


def check(ast: nodes.Template, declared: Mapping[str, Any]) -> list[str]:
    """What is wrong with a parsed template, statically: attributes the sandbox would refuse, and
    variables used but not declared."""
    problems = [f"the sandbox refuses {what} (line {line} of the template)" for line, what in _refused(ast)]
    used = meta.find_undeclared_variables(ast) - set(_GLOBALS)
    for name in sorted(used - set(declared)):
        problems.append(f"variable {name!r} is used but not declared under variables")
    return problems


def _refused(ast: nodes.Node) -> Iterator[tuple[int, str]]:
    # A prompt is one self-contained template: the environment has no loader to find another one.
    for other in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        yield other.lineno, f"{type(other).__name__.lower()} (a prompt cannot load other templates)"
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Pow)):
        if isinstance(node, nodes.Pow):
            base, exponent = _constant(node.left), _constant(node.right)
            if base is not None and exponent is not None and base.bit_length() * exponent > MAX_POWER_BITS:
                yield node.lineno, f"'**' building an integer of more than {MAX_POWER_BITS} bits"
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range":
            args = [_constant(a) for a in node.args]
            if args and not node.kwargs and all(a is not None for a in args):
                try:
                    size = len(range(*args))  # type: ignore[arg-type]
                except ValueError:
                    continue  # range(1, 2, 0): refused at request time with its own message
                if size > MAX_RANGE:
                    yield node.lineno, f"range() of {size} items (at most {MAX_RANGE})"
        elif isinstance(node, nodes.Getattr) and _unsafe(node.attr):
            yield node.lineno, f"attribute {node.attr!r}"
        elif isinstance(node, nodes.Getitem):
            key = node.arg
            if isinstance(key, nodes.Const) and isinstance(key.value, str) and _unsafe(key.value):
                yield node.lineno, f"attribute {key.value!r}"
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            method = node.node.attr
            if method in _MUTATING:
                yield node.lineno, f"calling {method!r}, which would modify a value"
            elif method in ("format", "format_map") and isinstance(node.node.node, nodes.Const):
                text = node.node.node.value
                if isinstance(text, str):
                    for attr in _format_attributes(text):
                        yield node.lineno, f"attribute {attr!r} in a format string"


def _constant(node: nodes.Node) -> int | None:
    """The value of an integer expression made only of constants (`10**9`), computed within the bounds
    rendering has; None for anything else."""
    if isinstance(node, nodes.Const):
        value = node.value
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(node, nodes.Neg):
        inner = _constant(node.node)
        return None if inner is None else -inner
    if isinstance(node, nodes.Add | nodes.Sub | nodes.Mul | nodes.Pow):
        a, b = _constant(node.left), _constant(node.right)
        if a is None or b is None:
            return None
        if isinstance(node, nodes.Pow):
            return a**b if b >= 0 and a.bit_length() * b <= MAX_POWER_BITS else None
        return a + b if isinstance(node, nodes.Add) else a - b if isinstance(node, nodes.Sub) else a * b
    return None


def _unsafe(attr: str) -> bool:
    return attr.startswith("_") or attr in _INTERNAL


def _format_attributes(text: str) -> Iterator[str]:
    """Attribute and key names a format string reaches (`{0.__class__}`, `{x[_y]}`) that are unsafe."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f]
    except ValueError:
        return  # not a valid format string: format() itself will fail at request time
    for field in fields:
        for part in field.replace("[", ".").replace("]", "").split(".")[1:]:
            if _unsafe(part):
                yield part


def variables(spec: Mapping[str, Any]) -> Mapping[str, Variable]:
    out = {}
    for name, v in (spec or {}).items():
        v = v or {}
        out[name] = Variable(name, bool(v.get("required", False)), v.get("default"), "default" in v)
    return MappingProxyType(out)
