"""A gate run in a forked child process, beside the work that goes on in this one.

Great Expectations is pure Python. Run in a thread beside dbt's build, the landing gate's 2-3 s
of Python took turns with dbt's own (compiling each node, firing its events) on one GIL, and
dbt's models waited for it. A child forked from this process has its own interpreter, with
Great Expectations, psycopg and the settings already imported and loaded: its Python runs on the
other core while dbt's runs here (an incremental build at 10k customers, five runs alternated
on one restored state: 0.5-0.9 s less, every pair). The child sends its GateResult back
through a pipe as soon as it has one, then writes the gate's Data Docs and says whether that
worked; ``GateResult.finish_docs()`` in this process waits for that, as it waits for a docs
thread.

Forking is safe only from a process with a single thread (a lock another thread holds would stay
held in the child forever), on Linux: ``can_fork()`` says whether it is; elsewhere the caller
runs the gate in a thread as before. The child freezes this process's objects out of its garbage
collector and leaves with ``os._exit``, so it never finalises a connection or file it inherited
(a psycopg connection closed in the child would end the parent's session).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import pickle
import sys
import threading
from collections.abc import Callable
from typing import IO

from portrait.errors import PortraitError


def can_fork() -> bool:
    """Whether a gate can run in a forked child: Linux, and no thread but this one."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


class ForkedGate:
    """``run()`` (a gate: returns a GateResult with its Data Docs being written, or None; raises
    what the gate raised) in a child process, started now."""

    def __init__(self, run: Callable[[], object], *, name: str = "gate") -> None:
        self.name = name
        read, write = os.pipe()
        gc.freeze()  # the child never collects, so never finalises, what this process holds
        try:
            pid = os.fork()
        except BaseException:
            gc.unfreeze()
            os.close(read)
            os.close(write)
            raise
        if pid == 0:
            _child(run, read, write)  # never returns
        gc.unfreeze()
        os.close(write)
        self._pid = pid
        self._pipe: IO[bytes] = os.fdopen(read, "rb")
        self._status: int | None = None

    def result(self):
        """Block until the child has a verdict: its GateResult (whose ``finish_docs()`` waits for
        the child's Data Docs) or None; raise what the gate raised in the child."""
        try:
            kind, value = pickle.load(self._pipe)  # noqa: S301 (our own child, through our own pipe)
        except EOFError:
            self._reap()
            raise PortraitError(
                f"the {self.name} ended without a verdict",
                where=f"child process {self._pid}, exit status {self._status}",
                rule="a gate must report before the build may publish",
            ) from None
        if kind == "error" or value is None:
            self._reap()
            if kind == "error":
                raise value
            return None
        result = value
        result._docs = threading.Thread(
            target=self._docs_written, args=(result,), name=f"data-docs-{self.name}", daemon=True
        )
        result._docs.start()
        return result

    def _docs_written(self, result) -> None:
        try:
            _, error = pickle.load(self._pipe)  # noqa: S301 (as above)
        except EOFError:
            error = PortraitError(
                f"the {self.name} ended before its Data Docs were written",
                where=f"child process {self._pid}",
                rule="Data Docs",
            )
        finally:
            self._reap()
        if error is not None:
            result._docs_error = error

    def _reap(self) -> None:
        if self._status is None:
            self._pipe.close()
            self._status = os.waitstatus_to_exitcode(os.waitpid(self._pid, 0)[1])


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling both ways, else a PortraitError that says what it was."""
    try:
        pickle.loads(pickle.dumps(error))  # noqa: S301 (what this process just pickled)
        return error
    except Exception:
        return PortraitError(f"{type(error).__name__}: {error}")


def _child(run: Callable[[], object], read: int, write: int) -> None:
    status = 1
    try:
        os.close(read)
        with os.fdopen(write, "wb") as pipe:
            try:
                result = run()
            except BaseException as err:
                pickle.dump(("error", _portable(err)), pipe)
            else:
                shipped = (
                    None
                    if result is None
                    else dataclasses.replace(result, _docs=None, _docs_error=None)
                )
                pickle.dump(("result", shipped), pipe)
                pipe.flush()
                if result is not None:
                    error = None
                    try:
                        result.finish_docs()
                    except BaseException as err:
                        error = _portable(err)
                    pickle.dump(("docs", error), pipe)
        status = 0
    finally:
        os._exit(status)
