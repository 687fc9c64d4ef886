"""Option values by name: the vocabulary `train`, `--config FILE` and `tune` share.

A train command's options, keyed by their Python names (`--max-len` is `max_len`), build its
model; `tune` builds each trial from the same names and writes the best as a config file whose
"params" the train commands take back with `--config`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from attnsight.errors import AttnsightError, DataError


def _load_config(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
    """Eager, so it runs before the other options: the file's "params" become the command's
    defaults, and a flag given on the command line still wins over them."""
    if value is None:
        return None
    try:
        payload = json.loads(value.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(value, f"not JSON: {exc}") from None
    params = payload.get("params") if isinstance(payload, dict) else None
    task, own = payload.get("task") if isinstance(payload, dict) else None, ctx.parent and ctx.parent.info_name
    if task and own and task != own:  # best.json names its task: another's options would not be this command's
        raise DataError(value, f"the options of a {task} model (`attnsight tune {task}`), not of "
                               f"`{ctx.command_path}`")
    if not isinstance(params, dict):
        raise DataError(value, 'no "params" object of option values (as `attnsight tune` writes)')
    known = {p.name for p in ctx.command.params} - {"config"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise DataError(value, f"unknown option {unknown[0]!r} in params (not an option of this command)")
    ctx.default_map = {**(ctx.default_map or {}), **params}
    return value


ConfigFile = Annotated[Optional[Path], typer.Option(
    "--config", is_eager=True, callback=_load_config,
    help='JSON whose "params" set option defaults (best.json of `attnsight tune`); flags given win.',
)]


Encoding = Annotated[str, typer.Option(help="Text encoding of the data file(s) (csv, tsv, jsonl): latin-1, utf-16, ...")]


def check_out(out: Path) -> None:
    """That --out, or the nearest part of its path that exists, is a folder."""
    there = next(p for p in (out, *out.parents) if p.exists())
    if not there.is_dir():
        raise AttnsightError(f"--out {out} is a file, not a folder" if there == out else
                             f"--out {out}: {there} is a file, not a folder")


def check_ranges(options: Mapping[str, Any], task: Optional[str] = None) -> None:
    """A one-line error for the first option value out of its range (a batch of 0, a dropout of 1.5),
    a device this machine does not have, or an --out that is a file (or, given the command's `task`,
    holds a bundle of another task, whose files would mix with the new one's), before any data is
    read; an option the command does not have, or left unset, passes."""
    if options.get("device"):
        from attnsight.train.trainer import resolve_device  # torch: not on the path of --help

        resolve_device(options["device"])
    out = options.get("out")
    if out is not None:
        check_out(Path(out))
    if out is not None and task is not None and Path(out).is_dir():
        _check_own_folder(Path(out), task)
    from attnsight.train.settings import check_settings  # the train package loads torch: not on the path of --help

    check_settings(options, as_options=True)
    if options.get("dim") and options.get("heads") and options["dim"] % options["heads"]:
        raise AttnsightError(f"--dim must be a multiple of --heads (each head takes an equal share), not "
                             f"{options['dim']} for {options['heads']} heads")


def _check_own_folder(out: Path, task: str) -> None:
    """A bundle saved to a folder replaces its files of a bundle's names and removes an optional one
    it has no payload for (metrics.json of a pretraining): so --out may hold a bundle of this task,
    or a run's checkpoints and logs, but not another task's bundle nor files of those names that no
    bundle wrote."""
    from attnsight.classifier import LABELS_FILE
    from attnsight.data.tokenizer import TOKENIZER_FILE
    from attnsight.evaluate.drift import PROFILE_FILE
    from attnsight.models.base import CONFIG_FILE, WEIGHTS_FILE, bundle_task
    from attnsight.recommender import (HISTORIES_FILE, ITEM_INFO_FILE, ITEMS_FILE, METRICS_FILE, PROFILES_FILE,
                                       USERS_FILE)

    if (out / CONFIG_FILE).is_file():
        held = bundle_task(out)
        if held == task:
            return
        raise AttnsightError(f"--out {out} holds a {held} bundle: give a folder of its own to this {task} model" if held
                             else f"--out {out} holds a {CONFIG_FILE} that is no attnsight bundle's: give a folder "
                                  f"of its own to this {task} model")
    names = {CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, LABELS_FILE, METRICS_FILE, PROFILE_FILE, ITEMS_FILE,
             USERS_FILE, HISTORIES_FILE, ITEM_INFO_FILE, PROFILES_FILE}
    clash = sorted(p.name for p in out.iterdir() if p.name in names)
    if clash:
        raise AttnsightError(f"--out {out} holds {clash[0]} but no bundle: saving one there would replace or remove "
                             f"it; give a folder of its own to this {task} model")


def defaults(command: Callable[..., Any]) -> dict[str, Any]:
    """A command's option defaults by name (Typer's Annotated style keeps them as Python defaults)."""
    return {name: p.default for name, p in inspect.signature(command).parameters.items() if p.default is not p.empty}


def run_dirs(out: Optional[Path]) -> dict[str, str]:
    """Checkpoint and TensorBoard folders of a bundle; none for a `tune` trial (out=None), whose
    model is thrown away, and a pruned one leaves nothing behind."""
    return {"checkpoint_dir": str(out / "checkpoints"), "log_dir": str(out / "logs")} if out else {}


def names(values: Optional[list[str]]) -> tuple[str, ...]:
    """Repeated flags or comma-separated lists: --numeric amount --numeric fee, or --numeric amount,fee."""
    return tuple(name.strip() for value in values or [] for name in value.split(",") if name.strip())
