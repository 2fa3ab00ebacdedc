"""``ddx serve``: the TUI in a browser.

The tests marked ``browser`` run ``ddx serve`` as a process and drive Debian's Chromium (headless, through
Playwright) against it; they are skipped, saying why, where /usr/bin/chromium or playwright is missing.
The others check the command's own decisions (where it listens, what it warns, what each session runs)
without a browser.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddx.analysis import Analyzer
from ddx.cli import main
from ddx.entry import CaseEntry, parse_finding
from ddx.knowledge import Knowledge
from ddx.tui.web import default_public_url, is_loopback, tui_command
from tests.browser import browser_page, chromium_missing, open_app, ranking_rows, served, type_line, wait_for_screen

browser = pytest.mark.skipif(chromium_missing() is not None, reason=f"no headless browser: {chromium_missing()}")


@pytest.fixture()
def serve_env(tmp_path: Path) -> dict[str, str]:
    """The server's environment: drafts in a fresh folder (no draft of another run is offered on opening)."""
    env = dict(os.environ)
    env["DDX_DATA_DIR"] = str(tmp_path / "data")
    env.pop("TEXTUAL_DRIVER", None)
    return env


def shown(ranking: list, n: int) -> list[tuple[str, str]]:
    """The first ``n`` rows of a ranking as the TUI's table shows them: upper-case id, probability % to 0.1."""
    return [(r.entity.upper(), f"{r.probability * 100:.1f}") for r in ranking[:n]]


# ---------------------------------------------------------------------------------------------- in a browser


@pytest.mark.browser
@browser
def test_a_stain_typed_in_the_browser_re_ranks_as_the_core_does(
    serve_env: dict[str, str], tmp_path: Path, knowledge: Knowledge, analyzer: Analyzer
):
    # what the core ranks for a new case, and for the same case once ALK is recorded positive (cytoplasmic)
    entry = CaseEntry(knowledge)
    before = analyzer.analyze(entry.case, suggest=False).ranking
    entry.apply(parse_finding("alk positive cytoplasmic", "stains", knowledge.vocab))
    after = analyzer.analyze(entry.case, suggest=False).ranking
    p = {r.entity: r.probability for r in before}
    q = {r.entity: r.probability for r in after}
    assert q["imt"] > 2 * p["imt"]  # ALK is IMT's marker (positive in most IMT, in few of the others)

    elsewhere: list[str] = []
    with served(env=serve_env, log=tmp_path / "serve.log") as server, browser_page(server.url, elsewhere) as page:
        first = open_app(page, server.url)
        rows = ranking_rows(first)
        assert rows == shown(before, len(rows)), first
        assert "new case" in first and "ALK positive" not in first, first

        type_line(page, "alk positive cytoplasmic")
        # the ranking shown becomes what the core gives with ALK recorded: the session re-ranked on the stain
        later = wait_for_screen(
            page,
            lambda t: len(ranking_rows(t)) >= 5 and ranking_rows(t) == shown(after, len(ranking_rows(t))),
            "the core's ranking with ALK positive",
            timeout=20,
        )
        assert dict(ranking_rows(later))["IMT"] == f"{q['imt'] * 100:.1f}"
        assert "ALK positive" in later  # the leader's evidence names the finding typed
    # the page (ddx's copy of textual-serve's) loads its font from the server, not fonts.googleapis.com
    assert elsewhere == []


@pytest.mark.browser
@browser
def test_stopping_the_server_ends_its_sessions_at_once_and_keeps_their_drafts(serve_env: dict[str, str], tmp_path: Path):
    drafts = Path(serve_env["DDX_DATA_DIR"]) / "drafts"
    with served(env=serve_env, log=tmp_path / "serve.log") as server, browser_page(server.url) as page:
        open_app(page, server.url)
        type_line(page, "desmin positive")
        wait_for_screen(page, lambda t: "unsaved changes" in t, "the case changed")
        for _ in range(100):  # the draft is written by a worker thread after the change
            if any("desmin" in d.read_text() for d in drafts.glob("*.yaml")):
                break
            page.wait_for_timeout(50)
        # a tab is open: aiohttp alone would wait up to a minute for it; ddx serve ends the session instead
        assert server.stop(timeout=10) == 0, server.output()
        group_gone = not server.group_alive()
    assert group_gone, "a session's ddx tui outlived the server"
    assert any("desmin" in d.read_text() for d in drafts.glob("*.yaml")), "the session's draft was lost"


# ---------------------------------------------------------------------------------------------- no browser


def test_each_session_runs_ddx_tui_with_this_interpreter_and_the_options_quoted():
    odd = "cases/a case; rm -rf ~ $(x).yaml"
    command = tui_command(odd, case_id="c 1", rules="my rules", cases=("x", "y z"), prior_set="paediatric")
    assert shlex.split(command) == [
        sys.executable,
        "-m",
        "ddx",
        "tui",
        "--rules",
        "my rules",
        "--cases",
        "x",
        "--cases",
        "y z",
        "--prior-set",
        "paediatric",
        "--case",
        "c 1",
        "--",
        odd,
    ]
    assert shlex.split(tui_command()) == [sys.executable, "-m", "ddx", "tui"]


def test_a_case_file_starting_with_a_dash_is_not_read_as_an_option():
    argv = shlex.split(tui_command("-x.yaml", case_id="c1"))
    # a session's arguments parse as 'ddx tui' does, the file as its argument
    ctx = main.commands["tui"].make_context("tui", argv[4:])
    assert ctx.params["case_file"] == "-x.yaml" and ctx.params["case_id"] == "c1"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("pathology-ws3", False),
        ("10.0.0.1", False),
    ],
)
def test_only_loopback_hosts_count_as_this_machine_only(host: str, loopback: bool):
    assert is_loopback(host) is loopback


def test_the_default_public_url_is_where_the_server_listens():
    assert default_public_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert default_public_url("::1", 8001) == "http://[::1]:8001"
    with pytest.raises(ValueError):
        default_public_url("0.0.0.0", 8000)


@pytest.fixture()
def no_serving(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Stop ``ddx serve`` just before it would listen; what it would have served."""
    from ddx.tui.web import TuiServer

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(
        TuiServer,
        "serve",
        lambda self, debug=False: calls.append(
            {"command": self.command, "host": self.host, "port": self.port, "public_url": self.public_url}
        ),
    )
    return calls


def test_serve_listens_on_localhost_by_default_without_a_warning(no_serving: list[dict[str, object]]):
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 0, result.output
    [call] = no_serving
    assert call["host"] == "127.0.0.1" and call["port"] == 8000 and call["public_url"] == "http://127.0.0.1:8000"
    assert shlex.split(str(call["command"]))[:4] == [sys.executable, "-m", "ddx", "tui"]
    assert "WARNING" not in result.stderr


def test_another_host_is_served_with_a_warning_that_there_is_no_authentication(no_serving: list[dict[str, object]]):
    result = CliRunner().invoke(
        main, ["serve", "--host", "192.0.2.7", "--port", "8123", "--public-url", "https://pathology.example.org/ddx/"]
    )
    assert result.exit_code == 0, result.output
    [call] = no_serving
    assert call["host"] == "192.0.2.7" and call["public_url"] == "https://pathology.example.org/ddx"
    assert "WARNING" in result.stderr and "no authentication" in " ".join(result.stderr.split())


def test_every_interface_needs_the_url_browsers_use(no_serving: list[dict[str, object]]):
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and not no_serving
    assert "--public-url" in result.output


def test_a_public_url_must_be_http(no_serving: list[dict[str, object]]):
    result = CliRunner().invoke(main, ["serve", "--public-url", "pathology.example.org"])
    assert result.exit_code == 2 and not no_serving
    assert "http://" in result.output


def test_bad_rules_or_a_bad_case_file_stop_serve_before_it_listens(
    tmp_path: Path, rules_copy: Path, no_serving: list[dict[str, object]]
):
    (rules_copy / "entities.yaml").write_text("entities: [\n")
    result = CliRunner().invoke(main, ["serve", "--rules", str(rules_copy)])
    assert result.exit_code == 1 and "rules could not be loaded" in result.stderr
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "missing.yaml" in result.stderr
    assert not no_serving


def test_a_port_in_use_is_one_clear_line_and_exit_1(tmp_path: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ddx", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in result.stderr and "Traceback" not in result.stderr
