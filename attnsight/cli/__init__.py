"""The `attnsight` command: parse, call the library, print. Errors end in one line and exit 2."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.exceptions import TyperException

from attnsight.cli.demo import demo
from attnsight.cli.recsys import app as recsys_app
from attnsight.cli.report import report
from attnsight.cli.risk import app as risk_app
from attnsight.cli.serve import serve
from attnsight.cli.text import app as text_app
from attnsight.cli.tune import app as tune_app
from attnsight.errors import AttnsightError

app = typer.Typer(
    name="attnsight",
    help="Attention models over audience data: recommendations, audience targeting, text analytics, explanations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(help="Generate an audience (behaviour, reviews, transactions), train every task, write the report.")(demo)
app.add_typer(recsys_app, name="recsys",
              help="Sequential recommendation: train, evaluate, recommend, audience, segments, influence, add-items, add-users.")
app.add_typer(text_app, name="text", help="Text analytics (Chinese, English): pretrain, train, evaluate, predict, explain.")
app.add_typer(risk_app, name="risk", help="Risk scores from attention over event histories: train, evaluate, score, explain.")
app.add_typer(tune_app, name="tune", help="Hyperparameter search (Optuna): resumable, pruned, shared by parallel workers.")
app.command(help="One self-contained HTML report over bundles: data, training curves, metrics, what they attend to.")(report)
app.command(help="Serve bundles over REST with live events, explanations, metrics and drift.")(serve)


def _quiet_worker() -> None:
    """Under torchrun every rank runs the command; only rank 0 prints (errors still reach stderr)."""
    import logging

    from attnsight.cli.render import console

    console.quiet = True
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    logging.getLogger("attnsight").setLevel(logging.WARNING)


def main() -> None:
    if os.environ.get("RANK", "0") != "0":  # set by torchrun
        _quiet_worker()
    try:
        code = app(standalone_mode=False)  # usage errors come here too, to end in one line as data errors do
    except (AttnsightError, OSError) as exc:
        _error(str(exc))
    except TyperException as exc:  # an option out of its range or of the wrong type, one missing, a typo'd command
        message = exc.format_message()  # empty where Typer has printed the help (a group called without a command)
        ctx = getattr(exc, "ctx", None)
        if message:
            _error(f"{message} (see `{ctx.command_path} --help`)" if ctx else message)
        sys.exit(exc.exit_code)
    if code == 130:  # Typer turns Ctrl-C into this exit status, silently
        Console(stderr=True).print("[yellow]interrupted[/]")
    sys.exit(code if isinstance(code, int) else 0)  # --help, or typer.Exit, returns its status


def _error(message: str) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    sys.exit(2)
