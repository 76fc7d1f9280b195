"""Config problems with their source location, as `gateway validate` prints them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def format_path(path: KeyPath) -> str:
    return ".".join(str(p) for p in path) if path else "(top level)"


@dataclass(frozen=True, slots=True)
class Issue:
    location: Location
    path: KeyPath
    message: str
    warning: bool = False

    def __str__(self) -> str:
        level = " warning:" if self.warning else ""
        return f"{self.location}:{level} {format_path(self.path)}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "path": format_path(self.path),
            "message": self.message,
            "severity": "warning" if self.warning else "error",
        }


class ConfigError(Exception):
    """Raised when a config snapshot has errors; carries every problem found, warnings included."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: Sequence[Issue] = sorted(issues, key=_sort_key)
        super().__init__("\n".join(str(i) for i in self.errors) or "invalid config")

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if not i.warning]


def _sort_key(issue: Issue) -> tuple[str, int, int]:
    return (issue.location.file, issue.location.line, issue.location.column)
