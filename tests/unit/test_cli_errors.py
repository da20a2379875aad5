"""Usage and OS errors end as one line on stderr with exit code 2, no traceback, nothing half
written. The OS errors are real: a tmpfs that fills up, a read-only mount (each in a private mount
namespace), a folder this user may not write (an unprivileged user namespace)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PORTRAIT_BIN, run_cli

USAGE_ERRORS = [
    (["generate", "--customers", "-5", "--out", "x"], "--customers"),
    (["generate", "--months", "0", "--out", "x"], "--months"),
    (["generate", "--format", "xml", "--out", "x"], "--format"),
    (["db", "url", "--role", "admin"], "--role"),
    (["score", "--slices", "0"], "--slices"),
    (["ingest", "--batch-date", "2025-13-01", "."], "--batch-date"),
    (["build", "--no-such-option"], "--no-such-option"),
    (["no-such-verb"], "no-such-verb"),
]


def _one_line(result: subprocess.CompletedProcess[str], mentions: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("portrait: error: "), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and mentions in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("args", "mentions"), USAGE_ERRORS, ids=[a[0] for a, _ in USAGE_ERRORS])
def test_a_usage_error_is_one_line_and_exit_code_2(args: list[str], mentions: str):
    line = _one_line(run_cli(*args, timeout=120), mentions)
    assert "--help" in line or "rule:" in line


def test_a_path_below_a_file_is_one_line(tmp_path: Path):
    (tmp_path / "a_file").write_text("x")
    line = _one_line(
        run_cli(
            "generate",
            "--customers",
            "20",
            "--months",
            "1",
            "--out",
            str(tmp_path / "a_file" / "bank"),
            timeout=120,
        ),
        "EEXIST",
    )
    assert str(tmp_path / "a_file") in line


def _in_namespace(flags: list[str], script: str) -> subprocess.CompletedProcess[str]:
    """`script` run by sh in a new namespace (unshare); the test skips where the kernel refuses one."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", *flags, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no namespace here: {probe.stderr.strip()}")
    return subprocess.run(
        ["unshare", *flags, "sh", "-c", script], capture_output=True, text=True, timeout=300
    )


def _generate(out: Path, customers: int) -> str:
    return (
        f"{shlex.quote(str(PORTRAIT_BIN))} generate --customers {customers} --months 2 "
        f"--out {shlex.quote(str(out))}"
    )


def test_a_full_disk_during_generate_is_one_line_and_leaves_nothing(tmp_path: Path):
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "bank"
    result = _in_namespace(
        ["--mount"],
        f"mount -t tmpfs -o size=1m tmpfs {disk} && "
        f"{_generate(out, 500)}; code=$?; ls -A {disk}; exit $code",
    )
    line = _one_line(
        subprocess.CompletedProcess(result.args, result.returncode, "", result.stderr), "ENOSPC"
    )
    assert str(out) in line
    assert result.stdout.strip() == "", f"half-written files left: {result.stdout}"


def test_a_read_only_file_system_is_one_line(tmp_path: Path):
    disk = tmp_path / "ro"
    disk.mkdir()
    result = _in_namespace(
        ["--mount"], f"mount -t tmpfs -o size=1m,ro tmpfs {disk} && {_generate(disk / 'bank', 20)}"
    )
    assert str(disk / "bank") in _one_line(result, "EROFS")


@pytest.fixture()
def locked() -> Iterator[Path]:
    """A folder only root may write, below folders anyone may enter (pytest's are private)."""
    top = Path(tempfile.mkdtemp(prefix="portrait-locked-"))
    top.chmod(0o755)
    (top / "locked").mkdir(mode=0o555)
    yield top / "locked"
    shutil.rmtree(top)


def test_a_folder_this_user_may_not_write_is_one_line(locked: Path):
    result = _in_namespace(["--user"], _generate(locked / "bank", 20))
    assert str(locked / "bank") in _one_line(result, "EACCES")
    assert list(locked.iterdir()) == []


def test_a_portrait_home_this_user_may_not_write_is_one_line(locked: Path):
    bank = locked.parent / "bank"
    run_cli("generate", "--customers", "20", "--months", "1", "--out", str(bank), check=True)
    bank.chmod(0o755)
    home = locked / "home"
    script = (
        f"env -u PORTRAIT_DATABASE_URL PORTRAIT_HOME={shlex.quote(str(home))} "
        f"{shlex.quote(str(PORTRAIT_BIN))} ingest {shlex.quote(str(bank))} --batch-date 2025-01-31"
    )
    assert str(home) in _one_line(_in_namespace(["--user"], script), "EACCES")
