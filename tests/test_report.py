"""The plain progress reporter: one line per finished target, each written whole."""

from __future__ import annotations

from lambdaforge.executor import Event, Status, TargetResult
from lambdaforge.report import PlainReporter


class Recorder:
    """A text stream that keeps each ``write`` call apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_each_line_is_one_write_with_its_newline():
    """print() writes a line and its newline in two calls: a Ctrl-C, or another thread's
    message, between them ran the next line onto this one (a flaky interrupt test read
    '… 0.13sforge: interrupted: …')."""
    stream = Recorder()
    reporter = PlainReporter(stream, verbose=True)
    result = TargetResult("function:api", Status.BUILT, seconds=0.5, reasons=["file changed: app.py"])
    reporter(Event("finished", "function:api", result))
    assert len(stream.writes) == 1
    assert stream.writes[0].endswith("\n") and stream.writes[0].count("\n") == 2
    assert "function:api" in stream.writes[0] and "because file changed: app.py" in stream.writes[0]
