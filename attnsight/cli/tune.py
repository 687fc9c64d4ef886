"""`attnsight tune recsys|text|risk`: Optuna searches over the train commands' options.

Each trial reads and fits exactly as its train command does (the command module's `load_inputs`
and `fit_model`), with the search's data options and the trial's values; the best trial's option
values go to OUT/best.json, which `attnsight <task> train --config OUT/best.json` takes back.
"""

from __future__ import annotations

import functools
import os
import shlex
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, Optional

import click
import typer
from rich.table import Table
from typer.core import TyperGroup

from attnsight.cli import recsys as recsys_cli
from attnsight.cli import risk as risk_cli
from attnsight.cli import text as text_cli
from attnsight.cli.options import Encoding, check_out, check_ranges, defaults
from attnsight.cli.render import console, print_json
from attnsight.errors import AttnsightError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


class _Tasks(TyperGroup):
    """An unknown task is bad input like any other: one line and exit 2, not a usage screen."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[Optional[str], Optional[click.Command], list[str]]:
        if not ctx.resilient_parsing and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            raise AttnsightError(f"unknown task {args[0]!r}: tune recsys, text or risk")
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=_Tasks, no_args_is_help=True, pretty_exceptions_enable=False)

Out = Annotated[Path, typer.Option(help="Folder for best.json and the default study file (created).")]
Trials = Annotated[int, typer.Option(help="Run until the study has this many finished (complete or pruned) trials.")]
Storage = Annotated[Optional[str], typer.Option(
    help="Optuna RDB storage URL; workers given the same one share the study. Default: sqlite:///OUT/study.db.")]
StudyName = Annotated[Optional[str], typer.Option("--study", help="Study name in the storage (default: the task).")]
SearchBudget = Annotated[Optional[float], typer.Option("--time-budget", help="Seconds of search: no trial starts after.")]
TrialBudget = Annotated[Optional[float], typer.Option(help="Seconds of training per trial (the model's --time-budget).")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]

# the search's own options; every other option of a tune command is its train command's
_SEARCH_OPTIONS = ("out", "trials", "storage", "study", "search_budget", "trial_budget", "device", "json_out")
_TRIAL_ONLY = {"risk": {"baseline": False}}  # a trial needs no gradient-boosting baseline: it is not tuned


@app.command()
def recsys(
    ctx: typer.Context,
    data: recsys_cli.Data,
    out: Out,
    format: recsys_cli.Format = "auto",
    user_col: recsys_cli.UserCol = "user",
    item_col: recsys_cli.ItemCol = "item",
    time_col: recsys_cli.TimeCol = "timestamp",
    rating_col: recsys_cli.RatingCol = "rating",
    encoding: Encoding = "utf-8",
    min_rating: recsys_cli.MinRating = None,
    min_user_events: recsys_cli.MinUserEvents = 1,
    min_item_events: recsys_cli.MinItemEvents = 1,
    min_len: recsys_cli.MinLen = 3,
    keep_duplicates: recsys_cli.KeepDuplicates = False,
    split: recsys_cli.Split = "loo",
    epochs: recsys_cli.Epochs = 200,
    seed: recsys_cli.Seed = 42,
    item_features: recsys_cli.ItemFeatures = None,
    item_text: recsys_cli.Text = None,
    item_categorical: recsys_cli.Categorical = None,
    item_tags: recsys_cli.Tags = None,
    item_numeric: recsys_cli.Numeric = None,
    item_vectors: recsys_cli.ItemVectors = None,
    user_features: recsys_cli.UserFeatures = None,
    user_text: recsys_cli.Text = None,
    user_categorical: recsys_cli.Categorical = None,
    user_tags: recsys_cli.Tags = None,
    user_numeric: recsys_cli.Numeric = None,
    side_text: recsys_cli.SideText = "wordpiece",
    trials: Trials = 20,
    storage: Storage = None,
    study: StudyName = None,
    search_budget: SearchBudget = None,
    trial_budget: TrialBudget = None,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Search dim, layers, heads, dropout, lr, max_len and negatives for validation NDCG@10; with side
    features (the options of `recsys train`), every trial fuses them."""
    _search("recsys", recsys_cli, ctx.params)


@app.command()
def text(
    ctx: typer.Context,
    data: text_cli.Labelled,
    out: Out,
    valid: text_cli.ValidFile = None,
    test: text_cli.TestFile = None,
    text_col: text_cli.TextCol = "text",
    label_col: text_cli.LabelCol = "label",
    format: text_cli.Format = "auto",
    encoding: Encoding = "utf-8",
    valid_size: text_cli.ValidSize = 0.1,
    test_size: text_cli.TestSize = 0.1,
    epochs: text_cli.Epochs = 20,
    seed: text_cli.Seed = 42,
    trials: Trials = 20,
    storage: Storage = None,
    study: StudyName = None,
    search_budget: SearchBudget = None,
    trial_budget: TrialBudget = None,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Search dim, layers, heads, dropout, lr and max_len for validation macro-F1."""
    _search("text", text_cli, ctx.params)


@app.command()
def risk(
    ctx: typer.Context,
    data: risk_cli.Labelled,
    out: Out,
    encoding: Encoding = "utf-8",
    account_col: risk_cli.AccountCol = "account",
    time_col: risk_cli.TimeCol = "timestamp",
    label_col: risk_cli.LabelCol = "label",
    numeric: risk_cli.Numeric = None,
    categorical: risk_cli.Categorical = None,
    entity_col: risk_cli.EntityCol = None,
    id_col: risk_cli.IdCol = None,
    label_delay_days: risk_cli.LabelDelayDays = 7,
    train_days: risk_cli.TrainDays = None,
    valid_days: risk_cli.ValidDays = 7,
    gap_days: risk_cli.GapDays = 7,
    test_days: risk_cli.TestDays = 7,
    test_start: risk_cli.TestStart = None,
    keep_known: risk_cli.KeepKnown = False,
    epochs: risk_cli.Epochs = 20,
    seed: risk_cli.Seed = 42,
    trials: Trials = 20,
    storage: Storage = None,
    study: StudyName = None,
    search_budget: SearchBudget = None,
    trial_budget: TrialBudget = None,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Search dim, layers, heads, dropout, lr, history_len and negative_rate for validation average precision."""
    _search("risk", risk_cli, ctx.params)


def _json_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value.resolve())
    return [_json_value(v) for v in value] if isinstance(value, list) else value


def _search(task: str, command: ModuleType, params: dict[str, Any]) -> None:
    """Open (or resume) the study, run the missing trials with the train command's own reading and
    fitting, print them, and write the best as OUT/best.json."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun every rank would draw its own trial
        raise AttnsightError("tune runs each trial in one process: for parallel trials start workers with the "
                             "same --storage (see `attnsight tune --help`), not torchrun")
    if params["trials"] < 1:
        raise AttnsightError(f"--trials must be at least 1, not {params['trials']}")
    for flag, budget in (("--time-budget", params["search_budget"]), ("--trial-budget", params["trial_budget"])):
        if budget is not None and not budget > 0:  # nan too
            raise AttnsightError(f"{flag} must be positive, not {budget:g}")
    from attnsight.models.base import write_json_atomic
    from attnsight.train.callbacks import RichProgress
    from attnsight.tune import (METRICS, SPACES, best_config, discard_study, finished_trials, open_study, optimize,
                                redact)

    import optuna  # after attnsight.tune, which turns a missing Optuna into a one-line error

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its INFO line per trial repeats ours
    out, json_out, metric = params["out"], params["json_out"], METRICS[task]
    check_out(out)
    _check_best_file(out / "best.json", task, params["study"] or task)
    # the train command's option values this search was given (JSON, as best.json keeps them; files
    # by absolute path, so that `train --config best.json` runs from any folder)
    given = {k: _json_value(v) for k, v in params.items() if k not in _SEARCH_OPTIONS}
    given["time_budget"] = params["trial_budget"]
    base = {**defaults(command.train), "device": params["device"], **_TRIAL_ONLY.get(task, {})}
    check_ranges({**given, "device": params["device"]})
    inputs = command.load_inputs({**base, **given})  # read once, for every trial, before any study is touched
    # what the trials' values are compared under: every option but the data (checked by content on
    # its own) and the seed (each parallel worker's own); files by content
    settings = {k: params.get(k) if isinstance(params.get(k), Path) else v for k, v in given.items()
                if k not in ("data", "seed")}
    own_file = [out / "study.db"] if params["storage"] is None else []  # the default storage: a file in OUT
    made = [path for path in (out, *own_file) if not path.exists()]
    out.mkdir(parents=True, exist_ok=True)
    storage = params["storage"] or f"sqlite:///{out / 'study.db'}"
    study = open_study(storage, params["study"] or task, task, seed=params["seed"], data=params["data"],
                       settings=settings)
    fresh = not study.get_trials(deepcopy=False)

    # within a trial, the bar alone: a line per trial says how it ended
    bar = [] if json_out else [RichProgress(epoch_lines=False)]

    def fit(options: dict[str, Any], callbacks: list[Any]) -> dict[str, Any]:
        return command.fit_model(inputs, {**base, **options}, None, [*callbacks, *bar]).metrics_

    if not json_out:
        console.print(f"study {study.study_name!r} in {redact(storage)}: {len(finished_trials(study))} of "
                      f"{params['trials']} trials finished; searching {', '.join(SPACES[task])} "
                      f"for validation {metric}", highlight=False)
    try:
        optimize(study, task, fit, given, params["trials"], params["search_budget"],
                 callbacks=[] if json_out else [functools.partial(_print_trial, metric)])
    except AttnsightError:  # bad data or options, found by the first trial: leave no study of failures behind
        if fresh:
            discard_study(study, storage, made)
        raise
    trials = study.get_trials(deepcopy=False)
    if not json_out:
        console.print(_trials_table(trials, metric))
    best = best_config(study, task)
    best["command"] = shlex.join(["attnsight", task, "train", "--config", str(out / "best.json"),
                                  "--out", str(out / "model")])
    write_json_atomic(out / "best.json", best)  # workers sharing OUT end together
    if json_out:
        print_json({"study": study.study_name, "storage": redact(storage), "finished": len(finished_trials(study)),
                    "best": best, "trials": [_trial_json(t) for t in trials]})
        return
    console.print(f"best: trial {best['trial']}, validation {metric} {best['value']:.4f}, written to "
                  f"{out / 'best.json'}; train it with:", highlight=False)
    console.print(f"  {best['command']}", soft_wrap=True, markup=False, highlight=False)  # one line to copy


def _check_best_file(path: Path, task: str, study: str) -> None:
    """OUT/best.json is the best of one study: another search writing there would replace it."""
    if not path.is_file():
        return
    from attnsight.models.base import read_json

    try:
        best = read_json(path)
    except (OSError, ValueError):
        best = None
    if not isinstance(best, dict) or (best.get("task"), best.get("study")) != (task, study):
        whose = f"study {best.get('study')!r} of `tune {best.get('task')}`" if isinstance(best, dict) else "another file"
        raise AttnsightError(f"{path} holds the best of {whose}; give this search another --out")


def _value(trial: FrozenTrial) -> Optional[float]:
    """A complete trial's value, else the last one it reported (where a pruned trial stopped)."""
    if trial.value is not None:
        return trial.value
    return trial.intermediate_values.get(trial.last_step) if trial.last_step is not None else None


def _seconds(trial: FrozenTrial) -> Optional[float]:
    return trial.duration.total_seconds() if trial.duration else None


def _number(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _print_trial(metric: str, study: optuna.Study, trial: FrozenTrial) -> None:
    value, seconds = _value(trial), _seconds(trial)
    shown = [f"trial {trial.number}", trial.state.name.lower()]
    if value is not None:
        shown.append(f"{metric} {value:.4f}")
    if trial.last_step is not None:
        shown.append(f"{trial.last_step} epochs")
    if seconds is not None:
        shown.append(f"{seconds:.0f} s")
    shown.append(_params(trial))
    console.print("  ".join(shown), highlight=False)


def _params(trial: FrozenTrial) -> str:
    return " ".join(f"{k}={_number(v)}" for k, v in trial.params.items())


def _trials_table(trials: list[FrozenTrial], metric: str) -> Table:
    table = Table(title=f"Trials: validation {metric} (of a pruned trial, where it stopped)", title_justify="left")
    for column in ("#", "state", "value", "epochs", "seconds"):  # numbers stay whole; the params wrap
        table.add_column(column, justify="left" if column == "state" else "right", no_wrap=True)
    table.add_column("params", ratio=1)
    for t in trials:
        value, seconds = _value(t), _seconds(t)
        table.add_row(str(t.number), t.state.name.lower(), "" if value is None else f"{value:.4f}",
                      _number(t.last_step), "" if seconds is None else f"{seconds:.0f}", _params(t))
    return table


def _trial_json(trial: FrozenTrial) -> dict[str, Any]:
    return {"number": trial.number, "state": trial.state.name.lower(), "value": _value(trial),
            "epochs": trial.last_step, "seconds": _seconds(trial), "params": trial.params}
