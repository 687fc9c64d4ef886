"""In-process CLI helpers shared by the command tests: a successful call, and the real entry point
with its one-line errors."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from attnsight.cli import app, main
from attnsight.cli.render import console


def invoke(*args: object):
    # the shared console measured its width when first imported, whatever the environment was then
    console.width = 200
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def run_main(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    """The real entry point (`attnsight ...`), which turns errors into one line and exit status 2."""
    monkeypatch.setattr(sys, "argv", ["attnsight", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def assert_one_line_error(monkeypatch, capsys, args, *fragments: str) -> str:
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
