"""Domain errors: each carries what went wrong, where, and which rule, for one clear CLI line."""

from __future__ import annotations

import errno
import re


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


class UsageError(PortraitError):
    """A command line the verb cannot run: an unknown option, a value out of range."""

    exit_code = 2


class OsError(PortraitError):
    """The operating system refused a file operation (permission, space, read-only...)."""

    exit_code = 2


# errno: (what it means, what to do); an OSError with another errno is a bug and keeps its traceback
OS_ERRORS = {
    errno.EACCES: (
        "permission denied",
        "give this user write access to it, or choose another path",
    ),
    errno.EPERM: (
        "operation not permitted",
        "give this user write access to it, or choose another path",
    ),
    errno.ENOTDIR: (
        "a part of the path is a file, not a folder",
        "choose a path whose parents are folders",
    ),
    errno.EEXIST: ("a file is in the way", "remove it or choose another path"),
    errno.EISDIR: ("it is a folder, not a file", "name a file"),
    errno.ENOSPC: ("no space left on the device", "free some space or choose another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or choose another disk"),
    errno.EROFS: ("read-only file system", "choose a path on a writable file system"),
    errno.EFBIG: ("file too large for this file system or limit", "choose another disk"),
}


def _errno_of(err: OSError) -> int | None:
    """The errno, also of errors that carry it only in their message (pyarrow's)."""
    if err.errno is not None:
        return err.errno
    found = re.search(r"\[errno (\d+)\]", str(err), re.IGNORECASE)
    return int(found.group(1)) if found else None


# the innermost function of the traceback: what the system refused to do
OPERATIONS = {
    "mkdir": "creating a folder",
    "mkdtemp": "creating a folder",
    "makedirs": "creating a folder",
    "open": "opening a file",
    "mkstemp": "creating a file",
    "write": "writing",
    "check_status": "writing",
    "replace": "moving a file into place",
    "rename": "moving a file into place",
    "unlink": "removing a file",
    "chmod": "setting permissions",
}


def _operation(err: BaseException) -> str:
    tb, name = err.__traceback__, ""
    while tb is not None:
        name = tb.tb_frame.f_code.co_name.rsplit(".", 1)[-1]  # Cython names carry their module
        tb = tb.tb_next
    return OPERATIONS.get(name, f"{name or 'a file operation'}")


def from_os_error(err: OSError) -> OsError | None:
    """One clear error for an OS refusal that the user can fix, or None (a bug)."""
    number = _errno_of(err)
    if number not in OS_ERRORS:
        return None
    meaning, hint = OS_ERRORS[number]
    path = err.filename or "(path not given by the system)"
    if err.filename2:
        path = f"{path} -> {err.filename2}"
    return OsError(
        f"{meaning} ({errno.errorcode[number]}) while {_operation(err)}", where=str(path), rule=hint
    )
