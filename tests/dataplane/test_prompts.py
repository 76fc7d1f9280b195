"""The prompt endpoints through the official SDKs against the fakes: `/v1/prompts/<name>/messages` and
`/chat/completions` (plain and streamed), overrides, `/render` calling nothing, `GET /v1/prompts`, the
record and analytics by prompt, routes, fallbacks, limits, cache, budgets and guardrails (input and
output) behind a prompt, and hostile input (sandbox escapes through variable values, values that
look like templates, values that would make a template loop or allocate without end, huge values, wrong
types, missing and unknown variables, a model outside `allow`).

OpenAI: `chat.completions.create` with `base_url=<gateway>/v1/prompts/<name>` posts to that prompt's
`/chat/completions`; the SDK requires `model` and `messages`, so calls name a model (the prompt's own
default or an override) and `messages=[]`, with the variables in `extra_body`. Anthropic:
`messages.create` always posts to `base_url + /v1/messages`, so calls go through the SDK's own `post()`
with its `Message` type and stream class (its transport, error mapping and parsing)."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from openai.types.chat import ChatCompletion

from tests.conftest import GatewayFactory, anthropic_client, openai_client, standard_config
from tests.fakes.upstream import FakeUpstream, Script
from tests.gateway_server import GatewayServer

PROMPTS = """
routes:
  support: anthropic/claude-haiku-4-5
prompts:
  support-reply:
    model: dynamic/support
    system: "You answer for {{ product }}. Reply in {{ language | default('English') }}."
    messages:
      - { role: user, content: "{{ question }}" }
    variables: { product: { default: Acme }, question: { required: true }, language: {} }
    params: { max_tokens: 1024, temperature: 0.2 }
  formatter:
    model: gpt-5
    messages:
      - { role: user, content: "{{ pattern.format(value) }} / {{ value[key] }}" }
    variables: { pattern: { required: true }, value: { required: true }, key: { default: 0 } }
  looper:
    model: gpt-5
    messages:
      - { role: user, content: "{% for i in range(n) %}.{% endfor %}{{ pad * n }}" }
    variables: { n: { required: true }, pad: { default: "" } }
  hidden:
    model: fast
    messages:
      - { role: user, content: "hi" }
"""
GATEWAYS = """
gateways:
  default:
    auth: none
    allow: [dynamic/support, gpt-5, fast, claude-haiku-4-5]
    prompts: [support-reply, formatter, looper]
  locked:
    auth: tokens
    tokens: [{ name: t1, secret: gw-secret-1 }]
    prompts: ['*']
"""


@pytest.fixture
def gw(make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream) -> GatewayServer:
    return make_gateway(standard_config(anthropic_up, openai_up, PROMPTS, gateway=GATEWAYS))


def upstream_calls(fake: FakeUpstream) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST"]


def post_messages(gw: GatewayServer, name: str, body: dict[str, Any]) -> Message:
    return anthropic_client(gw).post(f"/v1/prompts/{name}/messages", cast_to=Message, body=body)


# Each prompt's default model, named where the OpenAI SDK requires a model and the test overrides none.
DEFAULT_MODELS = {"support-reply": "dynamic/support", "formatter": "gpt-5", "looper": "gpt-5"}


def chat_client(gw: GatewayServer | str, name: str, key: str = "k") -> openai.OpenAI:
    return openai_client(gw, f"/v1/prompts/{name}", key=key)


def post_chat(gw: GatewayServer, name: str, body: dict[str, Any]) -> ChatCompletion:
    body = dict(body)
    model = body.pop("model", DEFAULT_MODELS.get(name, "gpt-5"))
    return chat_client(gw, name).chat.completions.create(model=model, messages=[], extra_body=body)


# -- calls ------------------------------------------------------------------------------------------------


def test_messages_renders_the_template_and_calls_through_the_route(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    message = post_messages(gw, "support-reply", {"variables": {"question": "Where is my order?"}})
    assert (
        message.content[0].type == "text"
        and message.content[0].text == "Hello from the fake anthropic upstream."
    )
    (sent,) = upstream_calls(anthropic_up)
    assert sent.path == "/v1/messages"
    assert sent.json == {
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "temperature": 0.2,
        "system": "You answer for Acme. Reply in English.",
        "messages": [{"role": "user", "content": "Where is my order?"}],
    }
    (record,) = gw.records(wait_for=1)
    assert record["endpoint"] == "messages" and record["route"] == "support" and record["status"] == 200
    # The record names the prompt and the config version it was rendered from.
    version = httpx.get(gw.url + "/v1/prompts").json()["config_version"]
    assert record["prompt"] == "support-reply" and record["config_version"] == version


def test_a_plain_http_client_needs_no_anthropic_headers(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    # What `curl -d` sends: a form content-type and no anthropic-version. The body sent on is the gateway's
    # own JSON, and Anthropic requires anthropic-version: both are set for the rendered call.
    resp = httpx.post(
        gw.url + "/v1/prompts/support-reply/messages",
        content=b'{"variables": {"question": "q"}}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200 and resp.json()["type"] == "message"
    (sent,) = upstream_calls(anthropic_up)
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"


def test_chat_completions_renders_in_openai_shape_with_overrides(
    gw: GatewayServer, openai_up: FakeUpstream, anthropic_up: FakeUpstream
) -> None:
    completion = chat_client(gw, "support-reply").chat.completions.create(
        model="gpt-5",
        messages=[],
        max_tokens=77,
        temperature=0.9,
        metadata={"ticket": "T-1"},
        extra_body={"variables": {"question": "Hi", "product": "Globex", "language": "French"}},
    )
    assert completion.choices[0].message.content == "Hello from the fake openai upstream."
    assert upstream_calls(anthropic_up) == []
    (sent,) = upstream_calls(openai_up)
    assert sent.path.endswith("/chat/completions") and sent.json["model"] == "gpt-5"
    assert sent.json["messages"] == [
        {"role": "system", "content": "You answer for Globex. Reply in French."},
        {"role": "user", "content": "Hi"},
    ]
    assert (sent.json["max_tokens"], sent.json["temperature"], sent.json["metadata"]) == (
        77,
        0.9,
        {"ticket": "T-1"},
    )
    (record,) = gw.records(wait_for=1)
    assert record["endpoint"] == "chat" and record["prompt"] == "support-reply"


def test_chat_completions_on_an_anthropic_default_model_is_translated(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    completion = post_chat(gw, "support-reply", {"variables": {"question": "Hi"}})
    assert completion.choices[0].message.content == "Hello from the fake anthropic upstream."
    (sent,) = upstream_calls(anthropic_up)
    assert "You answer for Acme. Reply in English." in str(sent.json["system"])
    assert sent.json["messages"][-1]["content"] in ("Hi", [{"type": "text", "text": "Hi"}])


def test_messages_stream_text_and_chat_stream(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    events = list(
        anthropic_client(gw).post(
            "/v1/prompts/support-reply/messages",
            cast_to=Message,
            body={"variables": {"question": "Hi"}, "stream": True},
            stream=True,
            stream_cls=anthropic.Stream[RawMessageStreamEvent],
        )
    )
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "Hello from the fake anthropic upstream."
    stream = chat_client(gw, "support-reply").chat.completions.create(
        model="gpt-5", messages=[], stream=True, extra_body={"variables": {"question": "Hi"}}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake openai upstream."
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert upstream_calls(openai_up)[0].json["stream"] is True


# -- variables are data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7*7 }}",
        "{% for x in range(3) %}{{ x }}{% endfor %}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
    ],
)
def test_a_value_that_is_a_template_arrives_literally(
    gw: GatewayServer, anthropic_up: FakeUpstream, value: str
) -> None:
    post_messages(gw, "support-reply", {"variables": {"question": value, "product": value}})
    (sent,) = upstream_calls(anthropic_up)
    assert sent.json["messages"][0]["content"] == value
    assert sent.json["system"] == f"You answer for {value}. Reply in English."


def test_values_may_be_any_json_value(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    post_chat(gw, "formatter", {"variables": {"pattern": "{0[0]}-{0[1]}", "value": ["a", 1], "key": 1}})
    post_chat(gw, "formatter", {"variables": {"pattern": "{0[k]}", "value": {"k": True}, "key": "k"}})
    post_chat(gw, "formatter", {"variables": {"pattern": "{0}", "value": [None]}})
    contents = [r.json["messages"][0]["content"] for r in upstream_calls(openai_up)]
    assert contents == ["a-1 / 1", "True / True", "[None] / None"]
    # A value of a shape the template cannot use is the client's mistake: a 400, nothing called.
    with pytest.raises(openai.BadRequestError) as info:
        post_chat(gw, "formatter", {"variables": {"pattern": "{0} and {1}", "value": "x"}})
    assert "could not be rendered" in str(info.value)
    assert len(upstream_calls(openai_up)) == 3


# -- hostile input: the sandbox at request time -----------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "refused"),
    [
        ({"pattern": "{0.__class__}", "value": "x"}, "'__class__'"),
        ({"pattern": "{0.__class__.__mro__}", "value": 1}, "'__class__'"),
        ({"pattern": "{0[0]}", "value": "abc", "key": "__class__"}, "'__class__'"),
        ({"pattern": "{0}", "value": {"a": 1}, "key": "__init__"}, "'__init__'"),
    ],
)
def test_a_sandbox_refusal_at_request_time_is_a_400_and_nothing_is_called(
    gw: GatewayServer, openai_up: FakeUpstream, variables: dict[str, Any], refused: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        post_chat(gw, "formatter", {"variables": variables})
    error = info.value.body
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"
    assert "sandbox refused" in error["message"] and refused in error["message"]
    assert upstream_calls(openai_up) == []


def test_missing_required_and_unknown_variables_are_400s_naming_them(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        post_messages(gw, "support-reply", {"variables": {"product": "X"}})
    assert info.value.body["error"]["message"] == "missing required variables: question"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as info:
        post_messages(gw, "support-reply", {"variables": {"question": "q", "tone": "x", "__class__": 1}})
    message = info.value.body["error"]["message"]  # type: ignore[index]
    assert message.startswith("unknown variables: __class__, tone (prompt 'support-reply' declares:")
    with pytest.raises(anthropic.BadRequestError) as info:
        post_messages(gw, "support-reply", {"variables": {"question": "q"}, "system": "override"})
    assert "unknown fields: system" in info.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as info:
        post_messages(gw, "support-reply", {"variables": ["question"]})
    assert info.value.body["error"]["message"] == "variables: must be a JSON object"  # type: ignore[index]
    assert upstream_calls(anthropic_up) == []


def test_a_model_override_outside_allow_is_refused(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        post_chat(gw, "support-reply", {"variables": {"question": "q"}, "model": "gpt-4o"})
    assert "not allowed on gateway 'default'" in str(info.value)
    with pytest.raises(anthropic.PermissionDeniedError):
        post_messages(gw, "support-reply", {"variables": {"question": "q"}, "model": "openai/gpt-4o"})
    resp = httpx.post(
        gw.url + "/v1/prompts/support-reply/render", json={"variables": {"question": "q"}, "model": "gpt-4o"}
    )
    assert resp.status_code == 403
    assert upstream_calls(openai_up) == []


# -- render, list, 404s, auth -----------------------------------------------------------------------------


def test_render_returns_both_requests_and_calls_nothing(
    gw: GatewayServer, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    resp = httpx.post(
        gw.url + "/v1/prompts/support-reply/render",
        json={"variables": {"question": "{{ 7*7 }}"}, "max_tokens": 5},
    )
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["prompt"] == "support-reply" and answer["model"] == "dynamic/support"
    assert answer["config_version"] == resp.headers["x-gateway-config-version"]
    system = "You answer for Acme. Reply in English."
    assert answer["requests"]["/v1/messages"] == {
        "model": "dynamic/support",
        "max_tokens": 5,
        "temperature": 0.2,
        "system": system,
        "messages": [{"role": "user", "content": "{{ 7*7 }}"}],
    }
    assert answer["requests"]["/v1/chat/completions"]["messages"][0] == {"role": "system", "content": system}
    gw.records(wait_for=1)
    assert anthropic_up.requests == [] and openai_up.requests == []


def test_list_names_the_gateways_prompts_and_their_variables(gw: GatewayServer) -> None:
    resp = httpx.get(gw.url + "/v1/prompts")
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert [p["name"] for p in data] == ["support-reply", "formatter", "looper"]
    assert data[0]["variables"] == {
        "product": {"required": False, "default": "Acme"},
        "question": {"required": True},
        "language": {"required": False},
    }
    assert data[0]["model"] == "dynamic/support" and data[0]["params"] == {
        "max_tokens": 1024,
        "temperature": 0.2,
    }


def test_unknown_or_unlisted_prompts_are_404_in_the_endpoints_envelope(
    gw: GatewayServer, anthropic_up: FakeUpstream
) -> None:
    for name in ("nope", "hidden"):  # `hidden` exists in config, but this gateway does not serve it
        with pytest.raises(anthropic.NotFoundError) as a:
            post_messages(gw, name, {})
        assert a.value.body["type"] == "error"  # type: ignore[index]
        assert a.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError) as o:
            post_chat(gw, name, {})
        assert o.value.body["code"] == "prompt_not_found"  # type: ignore[index]
    assert upstream_calls(anthropic_up) == []


def test_auth_applies_to_every_prompt_endpoint(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    base = gw.url + "/g/locked/v1/prompts"
    assert httpx.get(base).status_code == 401
    assert httpx.post(base + "/hidden/render", json={}).status_code == 401
    assert (
        httpx.post(base + "/nope/messages", json={}).status_code == 401
    )  # before the 404: names stay private
    assert anthropic_up.requests == []
    headers = {"x-gateway-key": "gw-secret-1"}
    assert [p["name"] for p in httpx.get(base, headers=headers).json()["data"]] == [
        "support-reply",
        "formatter",
        "looper",
        "hidden",
    ]
    client = anthropic_client(gw.url + "/g/locked", key="gw-secret-1")
    message = client.post("/v1/prompts/hidden/messages", cast_to=Message, body={})
    assert message.content[0].type == "text"
    assert upstream_calls(anthropic_up)[0].json["messages"] == [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError):
        chat_client(gw.url + "/g/locked", "hidden").chat.completions.create(model="fast", messages=[])
    completion = chat_client(gw.url + "/g/locked", "hidden", key="gw-secret-1").chat.completions.create(
        model="fast", messages=[]
    )
    assert completion.choices[0].message.content == "Hello from the fake anthropic upstream."


# -- the normal model-call path behind a prompt -----------------------------------------------------------


def test_limits_cache_and_fallbacks_work_behind_a_prompt(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(
        anthropic_up,
        openai_up,
        PROMPTS.replace(
            "support: anthropic/claude-haiku-4-5",
            "support: { fallback: [anthropic/claude-haiku-4-5, openai/gpt-5] }",
        ),
        gateway="gateways:\n  default: { auth: none, prompts: ['*'], cache: { ttl: 10m }, "
        "rate_limits: [{ requests: 3, per: 1m }] }\n",
    )
    gw = make_gateway(config)
    anthropic_up.push(Script(status=529))
    body = {"variables": {"question": "q"}}
    first = httpx.post(gw.url + "/v1/prompts/support-reply/messages", json=body)
    assert first.status_code == 200 and first.headers["x-gateway-model"] == "openai/gpt-5"
    assert first.headers["x-gateway-cache"] == "MISS" and first.headers["x-gateway-attempts"] == "2"
    second = httpx.post(gw.url + "/v1/prompts/support-reply/messages", json=body)
    assert second.status_code == 200 and second.headers["x-gateway-cache"] == "HIT"
    assert second.json() == first.json()
    assert len(upstream_calls(openai_up)) == 1
    third = httpx.post(gw.url + "/v1/prompts/support-reply/messages", json={"variables": {"question": "r"}})
    assert third.status_code == 200
    fourth = httpx.post(gw.url + "/v1/prompts/support-reply/messages", json={"variables": {"question": "s"}})
    assert fourth.status_code == 429 and fourth.json()["error"]["type"] == "rate_limit_error"


def test_the_log_and_analytics_know_the_prompt(gw: GatewayServer, anthropic_up: FakeUpstream) -> None:
    post_messages(gw, "support-reply", {"variables": {"question": "a"}})
    post_messages(gw, "support-reply", {"variables": {"question": "b"}})
    post_chat(gw, "formatter", {"variables": {"pattern": "{0}", "value": [1]}})
    anthropic_client(gw).messages.create(
        model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "plain"}]
    )
    gw.records(wait_for=4)
    logs = httpx.get(gw.url + "/api/logs", params={"prompt": "support-reply"}).json()["data"]
    assert len(logs) == 2 and {r["prompt"] for r in logs} == {"support-reply"}
    grouped = httpx.get(gw.url + "/api/analytics", params={"group_by": "prompt", "bucket": "1d"}).json()
    assert {b["group"]: b["requests"] for b in grouped["buckets"]} == {
        "support-reply": 2,
        "formatter": 1,
        None: 1,
    }


# -- hostile input: bounded rendering, huge values, wrong types -------------------------------------------


@pytest.mark.parametrize(
    ("variables", "refused"),
    [
        ({"n": 10**9}, "Range too big"),
        ({"n": 10**4, "pad": "x" * 1000}, "'*' would build more than"),
        ({"n": "3"}, "could not be rendered"),  # a string where the template needs a number
        ({"n": [1, 2]}, "could not be rendered"),
    ],
)
def test_values_cannot_make_a_template_loop_or_allocate_without_end(
    gw: GatewayServer, openai_up: FakeUpstream, variables: dict[str, Any], refused: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        post_chat(gw, "looper", {"variables": variables})
    assert refused in info.value.message
    assert upstream_calls(openai_up) == []
    post_chat(gw, "looper", {"variables": {"n": 3, "pad": "ab"}})
    assert upstream_calls(openai_up)[0].json["messages"] == [{"role": "user", "content": "...ababab"}]


def test_a_huge_value_arrives_whole_and_one_over_max_body_is_refused(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(
        anthropic_up, openai_up, PROMPTS + "server: { max_body: 2MiB }\n", gateway=GATEWAYS
    )
    gw = make_gateway(config)
    huge = "{{ 7*7 }} " * 150_000  # 1.5 MB of template syntax, as data
    post_messages(gw, "support-reply", {"variables": {"question": huge}})
    assert upstream_calls(anthropic_up)[0].json["messages"][0]["content"] == huge
    with pytest.raises(anthropic.APIStatusError) as info:
        post_messages(gw, "support-reply", {"variables": {"question": huge * 2}})
    assert info.value.status_code == 413
    # Under max_body as sent, but over it once rendered (the formatter shows the value twice): a 400.
    with pytest.raises(openai.BadRequestError) as bad:
        post_chat(gw, "formatter", {"variables": {"pattern": "{0}", "value": ["x" * 1_100_000], "key": 0}})
    assert "larger than server.max_body" in bad.value.message
    assert upstream_calls(openai_up) == []
    assert len(upstream_calls(anthropic_up)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_tokens", "many"), ("max_tokens", 0), ("temperature", "hot"), ("stream", "yes"), ("metadata", [1])],
)
def test_an_override_of_the_wrong_type_is_a_400_naming_it(
    gw: GatewayServer, anthropic_up: FakeUpstream, field: str, value: Any
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        post_messages(gw, "support-reply", {"variables": {"question": "q"}, field: value})
    assert info.value.body["error"]["message"].startswith(f"{field}: must be")  # type: ignore[index]
    assert upstream_calls(anthropic_up) == []


def test_messages_must_come_from_the_template(gw: GatewayServer, openai_up: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        chat_client(gw, "support-reply").chat.completions.create(
            model="gpt-5",
            messages=[{"role": "user", "content": "ignore the template"}],
            extra_body={"variables": {"question": "q"}},
        )
    assert "messages: a prompt's messages come from its template" in info.value.message
    assert upstream_calls(openai_up) == []


def test_a_budget_admits_a_prompt_by_its_rendered_worst_case(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(
        anthropic_up,
        openai_up,
        PROMPTS + "budgets:\n  tiny: { usd: 0.001, period: day }\n",
        gateway="gateways:\n  default: { auth: none, prompts: ['*'], budgets: [tiny] }\n",
    )
    gw = make_gateway(config)
    # The prompt's params ask for 1,024 output tokens: at Haiku's output price the worst case is over $0.001.
    with pytest.raises(anthropic.RateLimitError) as err:
        post_messages(gw, "support-reply", {"variables": {"question": "q"}})
    assert "budget 'tiny'" in err.value.message
    assert upstream_calls(anthropic_up) == []
    # An override of max_tokens is what the budget sees.
    post_messages(gw, "support-reply", {"variables": {"question": "q"}, "max_tokens": 50})
    assert upstream_calls(anthropic_up)[0].json["max_tokens"] == 50


# -- guardrails see the rendered prompt -------------------------------------------------------------------

GUARDRAILS = """
guardrails:
  no-secrets:
    check: { regex: ['sk-ant-[A-Za-z0-9_-]{20,200}'] }
    action: block
  pii:
    check: { builtin: [email] }
    action: redact
"""


def test_guardrails_apply_to_the_rendered_prompt(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    config = standard_config(
        anthropic_up,
        openai_up,
        PROMPTS + GUARDRAILS,
        gateway="gateways:\n  default: { auth: none, prompts: ['*'], guardrails: [no-secrets, pii] }\n",
    )
    gw = make_gateway(config)
    secret = "sk-ant-" + "a1B2c3D4" * 4
    # In a variable that lands in the system prompt, and in one that lands in the user turn: both blocked,
    # in the endpoint's envelope, naming the guardrail and never the matched text.
    with pytest.raises(anthropic.BadRequestError) as a:
        post_messages(gw, "support-reply", {"variables": {"question": "q", "product": secret}})
    assert "no-secrets" in a.value.message and secret not in str(a.value.body)
    with pytest.raises(openai.BadRequestError) as o:
        post_chat(gw, "support-reply", {"variables": {"question": f"my key: {secret}"}})
    assert "no-secrets" in o.value.message and secret not in str(o.value.body)
    assert upstream_calls(anthropic_up) == []
    post_messages(gw, "support-reply", {"variables": {"question": "write to bob@example.com"}})
    (sent,) = upstream_calls(anthropic_up)
    assert (
        "bob@example.com" not in str(sent.json) and "[REDACTED:email]" in sent.json["messages"][0]["content"]
    )
    records = gw.records(wait_for=3)
    assert [r["prompt"] for r in records] == ["support-reply"] * 3
    assert records[-1]["guardrails"] == [{"name": "pii", "on": "input", "action": "redact"}]


def test_output_guardrails_apply_to_a_prompts_answer_and_stream(
    make_gateway: GatewayFactory, anthropic_up: FakeUpstream, openai_up: FakeUpstream
) -> None:
    guardrails = "guardrails:\n  pii: { on: output, check: { builtin: [email] }, action: redact }\n"
    config = standard_config(
        anthropic_up,
        openai_up,
        PROMPTS + guardrails,
        gateway="gateways:\n  default: { auth: none, prompts: ['*'], guardrails: [pii] }\n",
    )
    gw = make_gateway(config)
    text = "Write to jane.doe@example.com today."
    expected = "Write to [REDACTED:email] today."
    # Whole answer (Messages), then streams of one character per chunk on both endpoints.
    anthropic_up.push(Script(text=text), Script(text=text, text_chunks=len(text)))
    openai_up.push(Script(text=text, text_chunks=len(text)))
    answer = post_messages(gw, "support-reply", {"variables": {"question": "q"}})
    assert [b.text for b in answer.content if b.type == "text"] == [expected]
    events = anthropic_client(gw).post(
        "/v1/prompts/support-reply/messages",
        cast_to=Message,
        body={"variables": {"question": "q"}, "stream": True},
        stream=True,
        stream_cls=anthropic.Stream[RawMessageStreamEvent],
    )
    deltas = [
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    ]
    assert "".join(deltas) == expected and not any("@" in d for d in deltas)
    chunks = chat_client(gw, "formatter").chat.completions.create(
        model="gpt-5", messages=[], stream=True, extra_body={"variables": {"pattern": "{}", "value": "v"}}
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    records = gw.records(wait_for=3)
    assert [r["prompt"] for r in records] == ["support-reply", "support-reply", "formatter"]
    assert all(r["guardrails"] == [{"name": "pii", "on": "output", "action": "redact"}] for r in records)
