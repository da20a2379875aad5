"""Domain errors: each carries what went wrong, where, and which rule, for one clear CLI line."""

from __future__ import annotations


class PortraitError(Exception):
    """An error the user can act on. The CLI prints ``str(err)`` on one line, no traceback."""

    exit_code = 1

    def __init__(self, what: str, *, where: str | None = None, rule: str | None = None) -> None:
        self.what = what
        self.where = where
        self.rule = rule
        super().__init__(self.line())

    def line(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"where: {self.where}")
        if self.rule:
            parts.append(f"rule: {self.rule}")
        return " | ".join(parts)


class DatabaseError(PortraitError):
    """The warehouse server cannot be started, reached or bootstrapped."""

    exit_code = 3


class InputError(PortraitError):
    """Landing input is unusable as a whole (the batch is refused)."""

    exit_code = 2
