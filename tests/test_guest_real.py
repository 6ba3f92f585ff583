"""The guest stage on a real boot of our kernel under QEMU.

These prove what the fake-vng tests cannot: that the exit status of a
command in the guest really comes back, and that a hang, a panic and a
kernel report in a real guest are caught and reported.
"""

from __future__ import annotations

import pytest

from harness import guest, pipeline, splat
from harness.errors import GuestPanic, GuestTimeout
from harness.paths import layout

pytestmark = [pytest.mark.guest, pytest.mark.slow]


@pytest.fixture(scope="module")
def kernel() -> guest.Kernel:
    lay = layout()
    return pipeline.our_kernel(pipeline.kernel_tree(lay))


def test_exit_status_and_output_come_back(kernel: guest.Kernel) -> None:
    res = guest.run(kernel, "uname -r; echo to-stdout; exit 7", layout().cache, timeout=600)
    assert res.status == 7
    assert "6.1." in res.output and "to-stdout" in res.output


def test_session_status_hang_and_report(kernel: guest.Kernel) -> None:
    with guest.Session(kernel, layout().cache, boot_timeout=600) as s:
        assert s.cmd("false").status == 1
        assert s.cmd("uname -r").output.startswith("6.1.")
        # A warning injected into the kernel log is found by the scanner.
        s.cmd("echo '<4>WARNING: CPU: 0 PID: 1 at mm/pmscan-test.c:1 pmscan_test+0x0/0x10'"
              " > /dev/kmsg; echo '<4>---[ end trace 0000000000000000 ]---' > /dev/kmsg")
        found = splat.scan(s.cmd("dmesg").output)
        assert [f.kind for f in found] == [splat.SplatKind.WARNING]
        assert "pmscan_test" in found[0].title
        with pytest.raises(GuestTimeout, match="no answer within 5s"):
            s.cmd("sleep 3600", timeout=5)


def test_kernel_panic_is_reported(kernel: guest.Kernel) -> None:
    with pytest.raises(GuestPanic, match="Kernel panic - not syncing"):
        guest.run(kernel, "echo c > /proc/sysrq-trigger; sleep 60", layout().cache, timeout=600)


def test_kernel_that_never_boots_times_out(kernel: guest.Kernel) -> None:
    # The root device never appears: the kernel waits for it forever.
    stuck = guest.Kernel(name="stuck", image=kernel.image,
                         append=("root=/dev/pmscan-missing", "rootwait"))
    # Any timeout proves the point: the guest never answers, so waiting
    # longer only costs make test its seconds.
    with pytest.raises(GuestTimeout, match="did not finish within 20s"):
        guest.run(stuck, "true", layout().cache, timeout=20)
