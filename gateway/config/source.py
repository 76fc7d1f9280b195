"""Read YAML config files into plain data, remembering where every key and value came from."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.config.issues import Issue, KeyPath, Location

try:  # the C parser is several times faster; fall back where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(slots=True)
class SourceFile:
    """One YAML file as plain data, with a location for every key path in it."""

    path: str
    text: bytes
    data: Any = None
    locations: dict[KeyPath, Location] = field(default_factory=dict)
    # Environment variables each string value was built from, for messages such as "set ANTHROPIC_API_KEY".
    env_refs: dict[KeyPath, tuple[str, ...]] = field(default_factory=dict)

    def locate(self, path: KeyPath) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            loc = self.locations.get(path[:end])
            if loc is not None:
                return loc
        return Location(self.path, 1, 1)


def config_files(config: Path) -> list[Path]:
    """A single file, or every *.yaml / *.yml below a folder, sorted by path."""
    if config.is_dir():
        return sorted(p for p in config.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [config]


def load_file(path: Path, env: Mapping[str, str], issues: list[Issue], strict_env: bool) -> SourceFile:
    """Parse one file. Problems go to `issues`; the returned data is None when parsing failed."""
    name = str(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        issues.append(Issue(Location(name, 1, 1), (), f"cannot read file: {exc.strerror or exc}"))
        return SourceFile(name, b"")
    source = SourceFile(name, text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name, 1, 1)
        issues.append(Issue(loc, (), f"YAML syntax error: {exc.problem or exc}"))
        return source
    except yaml.YAMLError as exc:
        issues.append(Issue(Location(name, 1, 1), (), f"YAML error: {exc}"))
        return source
    if node is None:
        source.data = {}
        return source
    builder = _Builder(source, env, issues, strict_env)
    source.data = builder.build(node, ())
    return source


class _Builder:
    """Turns a composed YAML node tree into dicts/lists/scalars, recording positions and env references."""

    def __init__(self, source: SourceFile, env: Mapping[str, str], issues: list[Issue], strict_env: bool):
        self.source = source
        self.env = env
        self.issues = issues
        self.strict_env = strict_env
        self.constructor = _Loader("")

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.source.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.source.locations.setdefault(path, self.loc(node))
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.issues.append(Issue(self.loc(key_node), path, "mapping keys must be plain strings"))
                    continue
                # Keys are always names: keep their text, so YAML 1.1's `on:` is "on", not True.
                key = str(key_node.value)
                if key in result:
                    first = self.source.locations[(*path, key)]
                    self.issues.append(
                        Issue(self.loc(key_node), (*path, key), f"duplicate key (first defined at {first})")
                    )
                    continue
                self.source.locations[(*path, key)] = self.loc(key_node)
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.constructor.construct_object(node)
        if isinstance(value, str) and "$" in value:
            return self.interpolate(value, node, path)
        if not isinstance(value, str | int | float | bool | type(None)):
            # Timestamps and binary scalars are not part of the language; keep the source text.
            return str(node.value)
        return value

    def interpolate(self, value: str, node: yaml.Node, path: KeyPath) -> str:
        refs: list[str] = []

        def replace(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            var, default = m.group(1), m.group(2)
            refs.append(var)
            if var in self.env:
                return self.env[var]
            if default is not None:
                return default
            self.issues.append(
                Issue(
                    self.loc(node),
                    path,
                    f"environment variable {var} is not set (use ${{{var}:-default}} for a default)",
                    warning=not self.strict_env,
                )
            )
            return ""

        result = _VAR.sub(replace, value)
        if refs:
            self.source.env_refs[path] = tuple(refs)
        return result
