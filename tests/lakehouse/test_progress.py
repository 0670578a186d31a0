"""Progress is drawn only for a person at a terminal: never into logs, pipes or CI output."""
import io
import os
import subprocess
import sys

from conftest import ROOT
from lakehouse.progress import shown


def test_progress_is_shown_on_a_terminal_only_and_never_in_ci():
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            assert shown(terminal, environ={})
            assert not shown(terminal, environ={"CI": "true"})
        assert not shown(io.StringIO(), environ={})
    finally:
        os.close(leader)
        os.close(follower)


QUIET_RUN = """
import sys
from lakehouse.progress import Steps
with Steps("retrain", ("read", "fit")) as steps:  # stderr is a pipe here, not a terminal
    steps.start("read")
    steps.start("fit")
    assert list(steps.each([1, 2])) == [1, 2]
    steps.finish()
print("rich" in sys.modules)
"""


def test_quiet_steps_write_nothing_and_load_no_drawing_library():
    # A process of its own: in the test run another library may have loaded rich already.
    done = subprocess.run([sys.executable, "-c", QUIET_RUN], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "False\n" and done.stderr == ""
