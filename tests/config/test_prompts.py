"""`prompts:` in config: templates compiled once into the table, and what `validate` refuses at the
template's file, line and key (sandbox escapes seen statically, undeclared variables, a template that
does not parse, an unresolvable default model, unknown prompts on a gateway)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from gateway.config.compiler import compile_config
from gateway.config.issues import ConfigError
from gateway.config.prompts import MAX_REPEAT, RenderError

BASE = """\
version: 1
providers:
  anthropic: { type: anthropic }
routes:
  support: anthropic/claude-haiku-4-5
"""


def compile_text(tmp_path: Path, text: str) -> list[str]:
    """The issues (errors and warnings) of a config, as `validate` prints them."""
    (tmp_path / "gateway.yaml").write_text(BASE + textwrap.dedent(text))
    try:
        table = compile_config(tmp_path, {})
    except ConfigError as exc:
        return [str(i) for i in exc.errors]
    return list(table.warnings)


def prompt(system: str, content: str = "{{ q }}", variables: str = "{ q: {} }") -> str:
    # Single-quoted YAML scalars: a template's double quotes stay as written.
    system = system.replace("'", "''")
    content = content.replace("'", "''")
    return f"""
prompts:
  p:
    model: dynamic/support
    system: '{system}'
    messages:
      - {{ role: user, content: '{content}' }}
    variables: {variables}
gateways:
  default: {{ prompts: ['*'] }}
"""


def test_a_valid_prompt_compiles_once_into_the_table(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(
        BASE + prompt("For {{ product }} in {{ lang | default('English') }}", variables=VARS)
    )
    table = compile_config(tmp_path, {})
    p = table.prompts["p"]
    assert table.gateways["default"].prompts == ("p",)
    assert p.render({"q": "hi"}) == ("For Acme in English", [{"role": "user", "content": "hi"}])
    # The table holds the compiled template itself: a second table from the same file is a new one, and
    # the first one's prompt is untouched by rendering.
    assert p.render({"q": "{{ 7*7 }}", "product": "X"})[1][0]["content"] == "{{ 7*7 }}"


VARS = "{ product: { default: Acme }, q: { required: true }, lang: {} }"


@pytest.mark.parametrize(
    ("system", "refused"),
    [
        ("{{ ''.__class__.__mro__ }}", "'__class__'"),
        ("{{ ''.__class__.mro() }}", "'mro'"),
        ("{{ q.__globals__ }}", "'__globals__'"),
        ("{{ self._TemplateReference__context }}", "'_TemplateReference__context'"),
        ("{{ q['__class__'] }}", "'__class__'"),
        ("{{ '{0.__class__}'.format(q) }}", "'__class__' in a format string"),
        ("{{ '{0[_x]}'.format(q) }}", "'_x' in a format string"),
        ("{{ q.append(1) }}", "calling 'append'"),
        ("{% for x in q %}{{ x.gi_frame }}{% endfor %}", "'gi_frame'"),
        ("{% include 'other.txt' %}", "include (a prompt cannot load other templates)"),
    ],
)
def test_what_the_sandbox_would_refuse_is_a_validate_error_at_the_key(
    tmp_path: Path, system: str, refused: str
) -> None:
    issues = compile_text(tmp_path, prompt(system))
    # One issue per refused attribute (`''.__class__.__mro__` has two), each at the template's key.
    at = f"{tmp_path / 'gateway.yaml'}:10:5: prompts.p.system: the sandbox refuses"
    assert issues and all(i.startswith(at) for i in issues), issues
    assert any(refused in i for i in issues), issues


def test_cycler_init_is_refused_and_cycler_is_not_a_global(tmp_path: Path) -> None:
    issues = compile_text(tmp_path, prompt("{{ cycler.__init__.__globals__ }}"))
    assert any("'__init__'" in i for i in issues) and any("'__globals__'" in i for i in issues)
    assert any("variable 'cycler' is used but not declared" in i for i in issues)


def test_undeclared_variable_unparsable_template_and_bad_declarations(tmp_path: Path) -> None:
    text = """
    prompts:
      p:
        model: dynamic/support
        system: "{{ tone }} {% for m in items %}{{ loop.index }}{{ m }}{% endfor %}"
        messages:
          - { role: user, content: "{{ q " }
        variables: { items: {}, q: { required: true, default: x } }
    gateways:
      default: { prompts: [p, nope] }
    """
    issues = compile_text(tmp_path, text)
    where = str(tmp_path / "gateway.yaml")
    assert (
        f"{where}:10:5: prompts.p.system: variable 'tone' is used but not declared under variables" in issues
    )
    assert any(
        i.startswith(f"{where}:12:23: prompts.p.messages.0.content: template does not parse") for i in issues
    )
    assert (
        f"{where}:13:29: prompts.p.variables.q: required and default together: the default is never used"
        in issues
    )
    assert any(
        i.startswith(f"{where}:15:27: gateways.default.prompts.1: unknown prompt 'nope'") for i in issues
    )
    assert len(issues) == 4, issues


def test_default_model_must_resolve_and_a_gateway_that_forbids_it_is_warned(tmp_path: Path) -> None:
    where = str(tmp_path / "gateway.yaml")
    bad = prompt("s").replace("dynamic/support", "dynamic/nope")
    assert compile_text(tmp_path, bad)[0].startswith(
        f"{where}:9:5: prompts.p.model: model 'dynamic/nope' does not"
    )
    narrow = prompt("s").replace("{ prompts: ['*'] }", "{ prompts: ['*'], allow: ['anthropic/*'] }")
    warnings = compile_text(tmp_path, narrow)
    assert warnings == [
        f"{where}:9:5: warning: prompts.p.model: gateway 'default' serves this prompt but does not allow its "
        "model 'dynamic/support': every call through it must name an allowed model"
    ]


def test_schema_refuses_unknown_keys_and_roles(tmp_path: Path) -> None:
    text = prompt("s").replace("role: user", "role: system").replace("variables:", "params: {}\n    vars:")
    issues = compile_text(tmp_path, text)
    assert any("prompts.p.messages.0.role" in i for i in issues), issues
    assert any("vars" in i for i in issues), issues


def test_gateways_serve_no_prompts_by_default(tmp_path: Path) -> None:
    text = prompt("s").replace("default: { prompts: ['*'] }", "default: {}")
    (tmp_path / "gateway.yaml").write_text(BASE + text)
    table = compile_config(tmp_path, {})
    assert table.gateways["default"].prompts == () and "p" in table.prompts


# -- rendering: hostile values stay bounded ---------------------------------------------------------------


@pytest.fixture
def looper(tmp_path: Path) -> Any:
    """A prompt whose template does arithmetic and loops with the request's values."""
    text = prompt(
        "{% for i in range(n) %}.{% endfor %}|{{ '-' * n }}|{{ n ** m }}|{% for a in xs %}{% for b in xs %}"
        "{{ a }}{{ b }}{% endfor %}{% endfor %}",
        variables="{ q: {}, n: { default: 1 }, m: { default: 1 }, xs: { default: [] } }",
    )
    (tmp_path / "gateway.yaml").write_text(BASE + text)
    return compile_config(tmp_path, {}).prompts["p"]


def test_ordinary_values_render(looper: Any) -> None:
    system, _ = looper.render({"q": "", "n": 3, "m": 3, "xs": ["a", "b"]})
    assert system == "...|---|27|aaabbabb"


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        ({"n": 10**9}, "Range too big"),  # the sandbox's own bound on range()
        ({"n": 10**7, "xs": []}, "Range too big"),
        ({"n": 0, "m": 10**9}, None),  # 0 ** huge is cheap and allowed
        ({"n": 2, "m": 10**9}, "'**' would build an integer"),
        ({"n": 10**18, "m": 1}, "Range too big"),
    ],
)
def test_request_values_cannot_make_rendering_unbounded(
    looper: Any, values: dict[str, Any], refused: str | None
) -> None:
    if refused is None:
        assert looper.render({"q": "", **values})[0].startswith("|")
        return
    with pytest.raises(RenderError) as info:
        looper.render({"q": "", **values})
    assert refused in str(info.value)


def test_repetition_and_output_are_bounded(tmp_path: Path) -> None:
    text = prompt("{{ pad * n }}", variables="{ q: {}, pad: { default: '-' }, n: { default: 1 } }")
    (tmp_path / "gateway.yaml").write_text(BASE + text)
    p = compile_config(tmp_path, {}).prompts["p"]
    assert p.render({"q": "", "n": MAX_REPEAT})[0] == "-" * MAX_REPEAT
    with pytest.raises(RenderError, match=r"'\*' would build more than"):
        p.render({"q": "", "n": MAX_REPEAT + 1})
    with pytest.raises(RenderError, match=r"'\*' would build more than"):
        p.render({"q": "", "pad": ["x"] * 1000, "n": 10**6})
    # A quadratic loop over a large list stops at the limit instead of building all of it.
    text = prompt("{% for a in q %}{% for b in q %}{{ a }}{% endfor %}{% endfor %}")
    (tmp_path / "gateway.yaml").write_text(BASE + text)
    p = compile_config(tmp_path, {}).prompts["p"]
    with pytest.raises(RenderError, match=r"larger than server\.max_body"):
        p.render({"q": ["x" * 100] * 10_000}, limit=1_000_000)
    assert len(p.render({"q": ["x"] * 100}, limit=1_000_000)[0]) == 10_000


@pytest.mark.parametrize(
    ("system", "refused"),
    [
        ("{% for i in range(10**9) %}.{% endfor %}", "range() of 1000000000 items (at most 100000)"),
        ("{{ range(-1, 100000 * 2, 1) | list }}", "range() of 200001 items"),
        ("{{ 7 ** 100000000 }}", "'**' building an integer of more than 4096 bits"),
    ],
)
def test_constant_ranges_and_powers_past_the_bounds_are_validate_errors(
    tmp_path: Path, system: str, refused: str
) -> None:
    # Jinja folds constant expressions while compiling: `**` is intercepted, so it is not folded (validate
    # does not compute 7 ** 10**8 for minutes) and the bound is checked on the constants instead.
    issues = compile_text(tmp_path, prompt(system))
    assert len(issues) == 1 and refused in issues[0], issues
    assert issues[0].startswith(f"{tmp_path / 'gateway.yaml'}:10:5: prompts.p.system: the sandbox refuses")


def test_constant_ranges_and_powers_within_the_bounds_render(tmp_path: Path) -> None:
    (tmp_path / "gateway.yaml").write_text(BASE + prompt("{{ range(10**5) | length }} {{ 2 ** 64 }}"))
    assert compile_config(tmp_path, {}).prompts["p"].render({"q": ""})[0] == f"100000 {2**64}"


def test_params_cannot_set_what_the_prompt_itself_says(tmp_path: Path) -> None:
    text = prompt("s").replace("variables:", "params: { model: gpt-5, temperature: 0.1 }\n    variables:")
    issues = compile_text(tmp_path, text)
    assert len(issues) == 1 and "prompts.p.params.model: model is the prompt's own key" in issues[0], issues
