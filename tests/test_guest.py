"""The guest stage without QEMU: a fake vng stands in for hangs, panics and lost status."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness import accel, guest, proc
from harness.errors import GuestError, GuestPanic, GuestTimeout, ToolMissing


def fake_vng(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """A vng that runs ``body`` (bash) instead of booting anything."""
    script = tmp_path / "vng"
    script.write_text("#!/bin/bash\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(guest, "vng_path", lambda: str(script))
    monkeypatch.setenv("PMSCAN_ACCEL", "tcg")


@pytest.fixture
def kernel(tmp_path: Path) -> guest.Kernel:
    image = tmp_path / "bzImage"
    image.write_bytes(b"not really a kernel")
    return guest.Kernel(name="test", image=str(image))


def test_status_comes_back_from_the_sentinel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              kernel: guest.Kernel) -> None:
    # Run the wrapped command the way the guest would: the last argument.
    fake_vng(tmp_path, monkeypatch, 'echo "[ 1.0] booting" >&2; eval "${@: -1}"')
    res = guest.run(kernel, "echo hello; exit 3", tmp_path)
    assert res.status == 3
    assert res.output == "hello\n"


def test_a_long_script_stays_off_the_kernel_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: guest.Kernel) -> None:
    """vng passes the command on the kernel command line (2048 bytes on 6.1)."""
    argv = tmp_path / "argv"
    fake_vng(tmp_path, monkeypatch, f'echo "$*" > {argv}; eval "${{@: -1}}"')
    long_script = "".join(f"echo line{i} >/dev/null\n" for i in range(300)) + "echo done\n"
    assert len(long_script) > 4096
    res = guest.run(kernel, long_script, tmp_path)
    assert res.status == 0 and res.output == "done\n"
    passed = argv.read_text()
    assert "line299" not in passed
    # What is left (paths, the share's remount) leaves room for vng's own arguments.
    assert len(passed) < 1500, passed


def test_status_over_the_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 kernel: guest.Kernel) -> None:
    # Without script I/O ports, output and status arrive on the console (stderr).
    fake_vng(tmp_path, monkeypatch,
             'echo "virtme-ng-init: starting script" >&2; eval "${@: -1}" >&2')
    res = guest.run(kernel, "echo from-console; exit 0", tmp_path)
    assert res.status == 0
    assert "from-console" in res.output


def test_hung_boot_is_killed_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          kernel: guest.Kernel) -> None:
    fake_vng(tmp_path, monkeypatch, 'echo "[ 0.5] last words before the hang" >&2; sleep 600')
    with pytest.raises(GuestTimeout) as err:
        guest.run(kernel, "true", tmp_path, timeout=3)
    assert "did not finish within 3s" in str(err.value)
    assert "last words before the hang" in str(err.value)


def test_panic_is_reported_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   kernel: guest.Kernel) -> None:
    fake_vng(tmp_path, monkeypatch,
             'echo "[ 3.0] Kernel panic - not syncing: Attempted to kill init!" >&2; exit 0')
    with pytest.raises(GuestPanic, match="Attempted to kill init"):
        guest.run(kernel, "true", tmp_path)


def test_lost_status_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 kernel: guest.Kernel) -> None:
    fake_vng(tmp_path, monkeypatch, 'echo "[ 2.0] guest died quietly" >&2; exit 0')
    with pytest.raises(GuestError, match="without the command's exit status"):
        guest.run(kernel, "true", tmp_path)


def test_missing_kernel_image(tmp_path: Path) -> None:
    k = guest.Kernel(name="test", image=str(tmp_path / "nope"))
    with pytest.raises(GuestError, match="does not exist"):
        guest.run(k, "true", tmp_path)


def test_missing_vng_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing) as err:
        guest.vng_path()
    assert "virtme-ng" in str(err.value)


def test_missing_qemu_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match="qemu-system-x86"):
        proc.require("qemu-system-x86_64")


def test_session_hang_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  kernel: guest.Kernel) -> None:
    # A shell that answers the prompt dance, then never finishes a command.
    fake_vng(tmp_path, monkeypatch, 'echo "[ 1.0] up"; PS1="# " exec bash --norc -i')
    with guest.Session(kernel, tmp_path, boot_timeout=20) as s:
        assert s.cmd("echo ready").output.strip() == "ready"
        assert s.cmd("(exit 9)").status == 9
        assert s.cmd("echo one\nif true; then\n  echo two\nfi").output == "one\ntwo\n"
        with pytest.raises(GuestTimeout, match="no answer within 2s"):
            s.cmd("sleep 600", timeout=2)


def test_each_command_of_one_boot_keeps_its_output_and_status(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: guest.Kernel) -> None:
    """run_each: several programs in one boot, each judged on its own."""
    fake_vng(tmp_path, monkeypatch, 'eval "${@: -1}"')
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    got = guest.run_each(kernel, "echo setup-ran", [
        ("echo first; exit 0", a), ("echo second >&2; exit 3", b), ("echo third", c)],
        tmp_path, timeout=60)
    assert [(e.output, e.status) for e in got.each] == [
        ("first\n", 0), ("second\n", 3), ("third\n", 0)]
    # The boot fails with the last failing command's status; the release and
    # the kernel log were written into the first command's directory.
    assert got.result.status == 3
    assert got.release == (a / "release").read_text().strip() != ""
    assert (a / "dmesg.txt").exists() and not (b / "release").exists()


def test_a_crowded_tcg_guest_runs_its_vcpus_in_one_host_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: guest.Kernel) -> None:
    monkeypatch.setattr(guest, "require", lambda tool: None)
    monkeypatch.setenv("PMSCAN_ACCEL", "tcg")
    alone = guest.vng_command(kernel, tmp_path)
    crowded = guest.vng_command(replace(kernel, crowded=True), tmp_path)
    assert not any("thread=single" in a for a in alone)
    assert "--qemu-opts=-accel tcg,thread=single" in crowded
    # With KVM there is no TCG thread to choose.
    monkeypatch.setenv("PMSCAN_ACCEL", "kvm")
    assert not any("thread=" in a for a in guest.vng_command(replace(kernel, crowded=True),
                                                              tmp_path))


def test_guests_are_crowded_when_their_vcpus_outnumber_the_cpus(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel.os, "cpu_count", lambda: 2)
    assert not accel.crowded(1, 2)
    assert accel.crowded(2, 2)
    assert accel.crowded(3, 1)
    monkeypatch.setattr(accel.os, "cpu_count", lambda: 8)
    assert not accel.crowded(4, 2)
    assert accel.crowded(3, 3)


STOPPED_HARNESS = """
import sys
from pathlib import Path
from harness import guest
guest.stop_guests_on_signals()
guest.vng_path = lambda: sys.argv[1]
try:
    guest.run(guest.Kernel(name="t", image=sys.argv[2]), "true", Path(sys.argv[3]))
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_harness_takes_its_guests_with_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: guest.Kernel,
        sig: signal.Signals) -> None:
    """The guest runs in a session of its own: neither the terminal's SIGINT
    nor SIGTERM to the harness would reach it without the harness's handler."""
    pidfile = tmp_path / "guest.pid"
    vng = tmp_path / "vng"
    vng.write_text(f"#!/bin/bash\necho $$ > {pidfile}\nexec sleep 300\n")
    vng.chmod(0o755)
    env = {**os.environ, "PMSCAN_ACCEL": "tcg"}
    with subprocess.Popen([sys.executable, "-c", STOPPED_HARNESS, str(vng), kernel.image,
                           str(tmp_path / "cache")], env=env) as harness:
        deadline = time.monotonic() + 30
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline and harness.poll() is None
            time.sleep(0.1)
        pid = int(pidfile.read_text())
        harness.send_signal(sig)
        assert harness.wait(timeout=30) == 130
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, f"the guest (pid {pid}) outlived the harness"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waits for a parent that is gone: it no longer runs.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"
