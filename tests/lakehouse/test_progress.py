"""Progress is drawn only for a person at a terminal: never into logs, pipes or CI output."""
import io
import os
import sys

from lakehouse.progress import Steps, shown


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


def test_quiet_steps_write_nothing_and_load_no_drawing_library(capfd):
    with Steps("retrain", ("read", "fit")) as steps:  # stderr here is not a terminal
        steps.start("read")
        steps.start("fit")
        assert list(steps.each([1, 2])) == [1, 2]
        steps.finish()
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert "rich" not in sys.modules
