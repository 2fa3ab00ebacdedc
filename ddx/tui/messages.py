"""Messages the TUI's widgets send each other, and how a refusal is worded."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message

from ddx.entry import InvalidEntry
from ddx.errors import DID_YOU_MEAN, Problem, did_you_mean
from ddx.safetext import printable


class CaseChanged(Message):
    """The case held by the entry changed (after a valid edit)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


class RefusalsChanged(Message):
    """A field's refusal was shown or cleared: the ranking says which values on screen it was made without."""


class NextTestChosen(Message):
    """A suggested next test was chosen: put it on the form, ready for its result."""

    def __init__(self, test: str, kind: str) -> None:
        super().__init__()
        self.test = test
        self.kind = kind


def plain(text: str | None) -> Text:
    """Text from a case, a rule file or an error, for a widget: shown as written, never read as markup,
    control characters escaped (a case file cannot clear the screen, retitle the terminal or add a link)."""
    return Text(printable(text or ""))


def problem_text(exc: InvalidEntry | Problem) -> str:
    """A refusal for display beside its field: the reason and the nearest valid terms."""
    problem = exc.problem if isinstance(exc, InvalidEntry) else exc
    text = problem.message
    if problem.suggestions and DID_YOU_MEAN not in text:
        text += "; " + did_you_mean(problem.suggestions, quoted=False)
    return text


def shown_value(value: object) -> str:
    """A case value as a field shows it ("" for not given). Control characters from the file are shown
    as escapes (``\\x1b``): an input field hands its text to the terminal as it is."""
    return "" if value is None else printable(str(value))
