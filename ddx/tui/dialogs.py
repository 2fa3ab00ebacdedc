"""Modal screens: help, the unsaved-changes guard, file paths, the report, a draft offered back.

The widgets only a dialog uses (Markdown, path completion) are imported when it opens, not before the
first paint.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from ddx.autosave import Draft
from ddx.tui.messages import plain


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown

        text = files("ddx.tui").joinpath("help.md").read_text(encoding="utf-8")
        with Vertical(id="help-box", classes="dialog"):
            with VerticalScroll():
                yield Markdown(text)
            yield Button("Close", id="close", variant="primary")

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class ChoiceScreen(ModalScreen[str]):
    """A question answered by a button: dismissed with the pressed button's id; Escape answers "cancel".

    ``what`` completes the question ("... before you {what}?").
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str = "") -> None:
        super().__init__()
        self.what = what

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.answer(str(event.button.id))

    def answer(self, choice: str) -> None:
        """A button was pressed: dismissed with its id."""
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss("cancel")


class ConfirmDraftDiscard(ChoiceScreen):
    """Discarding a draft is final: returns "discard", or "keep" (the default button; Escape: "cancel")."""

    def __init__(self, draft: Draft) -> None:
        super().__init__()
        self.draft = draft

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-box"):
            yield Label(
                plain(f"Discard the unsaved work on {self.draft.describe()}? It cannot be restored afterwards."), id="confirm-text"
            )
            with Horizontal(classes="buttons"):
                yield Button("Keep it", id="keep", variant="primary")
                yield Button("Discard it", id="discard", variant="error")


class ConfirmDiscard(ChoiceScreen):
    """Unsaved changes: returns "save", "discard" or "cancel"."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-box"):
            yield Label(f"The case has unsaved changes. Save them before you {self.what}?", id="confirm-text")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Discard changes", id="discard", variant="error")
                yield Button("Cancel", id="cancel")


class PathDialog(ModalScreen[Path | None]):
    """Ask for a file path (with completion); returns the path or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        initial: str = "",
        *,
        must_exist: bool = False,
        confirm_overwrite: bool = False,
        suffixes: tuple[str, ...] = (".yaml", ".yml", ".json"),
    ) -> None:
        super().__init__()
        self.title_text = title
        self.initial = initial
        self.must_exist = must_exist
        self.confirm_overwrite = confirm_overwrite
        self.suffixes = suffixes
        self._overwrite_ok: Path | None = None

    def compose(self) -> ComposeResult:
        from textual_autocomplete import PathAutoComplete

        with Vertical(classes="dialog", id="path-box"):
            yield Label(self.title_text, classes="dialog-title")
            path_input = Input(self.initial, placeholder="path/to/case.yaml", id="path")
            yield path_input
            yield PathAutoComplete(path_input)
            yield Static("", id="path-error", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#path-error", Static).display = False
        self.query_one("#path", Input).focus()

    def _error(self, text: str) -> None:
        error = self.query_one("#path-error", Static)
        error.update(plain(text))
        error.display = bool(text)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            self._error("type a file name")
            return
        path = Path(text).expanduser()
        if path.suffix.lower() not in self.suffixes:
            self._error(f"use a {' or '.join(self.suffixes)} file")
            return
        if self.must_exist and not path.is_file():
            self._error(f"{path} does not exist")
            return
        if not self.must_exist and not path.parent.expanduser().is_dir():
            self._error(f"folder {path.parent} does not exist")
            return
        if self.confirm_overwrite and path.exists() and self._overwrite_ok != path:
            self._overwrite_ok = path
            self._error(f"{path} exists; press OK again to replace it")
            return
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportScreen(ModalScreen[None]):
    """The draft report comment: save it to a file or copy it to the clipboard.

    Shown as written when the screen is wide enough; narrower, as ``at_width`` words it for the
    screen's width (its paragraphs wrapped once, to that width, never wrapped again by the view);
    saved and copied as written."""

    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(
        self, text: str, default_name: str, at_width: Callable[[int], str] | None = None, chart_svg: str | None = None
    ) -> None:
        super().__init__()
        self.text = text
        self.default_name = default_name
        self.at_width = at_width
        self.shown_width = 0  # the width the text is shown for (0: as written)
        self.chart_svg = chart_svg  # the evidence chart, saved beside the report (ddx.chart.chart_beside)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="report-box"):
            yield Label("Draft report comment (decision support; edit before use)", classes="dialog-title")
            # soft wrap only breaks the lines the report itself does not wrap (its heading, the rules line)
            yield TextArea(self.text, read_only=True, id="report-text", soft_wrap=True)
            with Horizontal(id="report-file"):
                yield Label("File:")
                yield Input(self.default_name, id="report-path", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Save to file", id="save", variant="primary", compact=True)
                yield Button("Copy", id="copy", compact=True)
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        area = self.query_one("#report-text", TextArea)
        width = area.scrollable_content_region.width - 1  # the cursor may sit after the last character
        fits = all(len(line) <= width for line in self.text.splitlines())
        wanted = 0 if fits or self.at_width is None or width < 20 else width
        if wanted == self.shown_width:
            return
        self.shown_width = wanted
        area.load_text(self.at_width(wanted) if wanted and self.at_width is not None else self.text)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#copy")
    def _copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("Report copied to the clipboard (needs a terminal with OSC 52 clipboard support).")

    @on(Input.Submitted, "#report-path")
    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        from ddx.yamlio import atomic_write_text

        path = Path(self.query_one("#report-path", Input).value.strip()).expanduser()
        if not path.name:
            self.notify("Type a file name for the report.", severity="error")
            return
        from ddx.chart import chart_beside

        writes = [(path, self.text)] + ([(chart_beside(path), self.chart_svg)] if self.chart_svg is not None else [])
        for target, text in writes:
            try:
                atomic_write_text(target, text)
            except OSError as exc:
                self.notify(f"Could not write {target}: {exc.strerror or exc}", severity="error")
                return
        self.notify(f"Report written to {path}" + (f"; evidence chart to {writes[1][0]}" if len(writes) > 1 else ""))


class DraftOffer(ChoiceScreen):
    """A draft left by an editor that did not close cleanly: "restore", "discard" or "later".

    It opens by itself a moment after the editor, while the user may already be typing a finding: for
    :attr:`ARMING` seconds its buttons take no press (an Enter meant for the entry line, a Tab then Enter, once
    discarded a draft), and "discard" is asked again (:class:`ConfirmDraftDiscard`)."""

    ARMING = 0.6  # seconds after it appears before a button takes a press

    def __init__(self, draft: Draft, others: int, showing: Path | None = None) -> None:
        """``showing``: the file the editor was opened on, which restoring the draft replaces on screen."""
        super().__init__()
        self.draft = draft
        self.others = others
        self.showing = showing
        self.armed = False

    def on_mount(self) -> None:
        self.set_timer(self.ARMING, self._arm)

    def _arm(self) -> None:
        self.armed = True

    def answer(self, choice: str) -> None:
        if self.armed:
            self.dismiss(choice)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="draft-box"):
            yield Label("Unsaved work was found", classes="dialog-title")
            text = f"An editor closed without saving {self.draft.describe()}."
            if self.others:
                text += f" ({self.others} older draft{'s' if self.others > 1 else ''} also kept.)"
            if self.showing is not None:
                origin = Path(self.draft.origin) if self.draft.origin else None
                if origin is not None and origin.resolve() == self.showing.resolve():
                    text += f" Restoring it puts its unsaved changes over {self.showing} as saved, now open."
                else:
                    text += f" Restoring it replaces the case now open ({self.showing}) in the editor."
                    text += f" Save then writes to {origin}." if origin else " Save then asks for a file."
                text += " Nothing on disk changes until you save."
            yield Static(plain(text), id="draft-text")
            with Horizontal(classes="buttons"):
                yield Button("Restore it", id="restore", variant="primary")
                yield Button("Discard it", id="discard", variant="error")
                yield Button("Later", id="later")
