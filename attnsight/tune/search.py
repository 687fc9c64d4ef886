"""Optuna searches over a task model's options.

A study lives in an RDB storage (SQLite on one machine, PostgreSQL or MySQL across machines):
a re-run of the same search resumes it, and any number of workers pointed at the same storage
and study name share it. Trials are judged on the validation metric the task's Trainer selects
on, reported after every epoch so that the median pruner can stop weak ones early; the test
split is recorded beside each trial for the report, never used to select.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from attnsight.errors import AttnsightError
from attnsight.train.trainer import Callback, Trainer, TrainResult
from attnsight.tune.space import METRICS, SPACES, Space, suggest

try:
    import optuna
    from optuna.trial import FrozenTrial, TrialState
except ImportError:  # the optional `tune` extra
    raise AttnsightError("attnsight tune needs Optuna: pip install 'attnsight[tune]'") from None

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # what a search's trial count counts
HEARTBEAT_SECONDS = 30  # a running trial marks itself alive this often ...
GRACE_SECONDS = 90  # ... and one silent for this long belongs to a killed worker: failed, then run again once

# Trains one model from option values by name (the trial's and the search's fixed ones) with these
# Trainer callbacks, and returns its metrics: {"valid": {...}, "test": {...}, ...}.
Fit = Callable[[dict[str, Any], Sequence[Callback]], Mapping[str, Any]]
TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


class PruningCallback:
    """Trainer callback: reports the validation metric to the trial after every epoch and stops
    the trial (optuna.TrialPruned, out of Trainer.fit and the model's fit) when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial = trial
        self.metric = metric

    def on_train_start(self, trainer: Trainer, epochs: int, steps_per_epoch: int) -> None:
        pass

    def on_step(self, trainer: Trainer, epoch: int, step: int, loss: float) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        # pretraining counts its own epochs from 1 and selects on another metric: only the task's
        # training is compared across trials
        value = logs.get(f"valid_{self.metric}")
        if trainer.name != "train" or value is None or math.isnan(value):
            return
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"validation {self.metric} {value:.4f} at epoch {epoch}")

    def on_train_end(self, trainer: Trainer, result: TrainResult | None) -> None:
        pass


def redact(url: str) -> str:
    """A storage URL with its password hidden, for messages and reports."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def open_study(
    storage: str, name: str, task: str, seed: int = 42, heartbeat: int = HEARTBEAT_SECONDS, grace: int = GRACE_SECONDS,
    data: Optional[Path] = None,
    settings: Optional[Mapping[str, Any]] = None,
) -> optuna.Study:
    """The study `name` in `storage`, created on first use and loaded by every later run or worker.

    It maximises the task's validation metric with median pruning: from the sixth trial on, a
    trial whose best value so far is below the median of earlier trials at the same epoch stops
    there (never before its third epoch). A worker killed mid-trial leaves a trial that the next
    worker to start a trial fails after `grace` seconds without a heartbeat and queues once more.

    An existing study is taken only if it is such a search of `task` (and, once it has finished
    trials, given `data`, of the same data, by content, and given `settings`, the option values its
    trials were not searching, Path values by content): its best trial is what best.json will hold.
    """
    study = optuna.create_study(
        storage=_storage(storage, heartbeat, grace), study_name=name, direction="maximize", load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3),
    )
    where = f"study {name!r} in {redact(storage)}"
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
        goals = " and ".join(d.name.lower() for d in study.directions)
        raise AttnsightError(f"{where} is set to {goals}; `attnsight tune {task}` maximizes one value, validation "
                             f"{METRICS[task]}: name another study")
    started = study.user_attrs.get("task")
    if started is not None and started != task:
        raise AttnsightError(f"{where} tunes {started}, not {task}: name another study")
    trials = study.get_trials(deepcopy=False)
    foreign = next((p for t in trials for p in t.params if p not in SPACES[task]), None)
    if foreign is not None or (started is None and trials):  # attnsight names its study's task before any trial
        why = "" if foreign is None else f" (parameter {foreign!r})"
        raise AttnsightError(f"{where} was not made by `attnsight tune {task}`{why}: name another study")
    if started is None:
        study.set_user_attr("task", task)
    if data is not None:
        _check_data(study, where, data)
    if settings is not None:
        _check_settings(study, where, settings)
    # TPE's random start differs for each resumed run and each worker that joins later, and a
    # fresh search with the same seed repeats itself
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(trials))
    return study


def _check_data(study: optuna.Study, where: str, data: Path) -> None:
    """Record the data a study is tuned on, and refuse other data once its trials were judged on it:
    their values would not compare. By content, so workers may read their own copies."""
    digest = _fingerprint(data)
    tuned_on, tuned_digest = study.user_attrs.get("data"), study.user_attrs.get("data_sha256")
    if tuned_digest == digest:
        return
    if tuned_digest is not None and finished_trials(study):
        raise AttnsightError(f"{where} was tuned on {tuned_on}; give another --study for {data}")
    study.set_user_attr("data", str(data))
    study.set_user_attr("data_sha256", digest)


def _check_settings(study: optuna.Study, where: str, settings: Mapping[str, Any]) -> None:
    """Record the fixed option values a study's trials train with, and refuse others once trials
    were judged under them (a larger --min-len, fewer --epochs: their values would not compare)."""
    given = json.loads(json.dumps({k: {"sha256": _fingerprint(v)} if isinstance(v, Path) else v
                                   for k, v in settings.items()}))
    tuned = study.user_attrs.get("settings")
    if tuned == given:
        return
    if tuned is not None and finished_trials(study):
        key = next(k for k in sorted({*tuned, *given}) if tuned.get(k) != given.get(k))
        flag = "--" + ("trial_budget" if key == "time_budget" else key).replace("_", "-")  # the search's name for it
        if isinstance(given.get(key), dict) or isinstance(tuned.get(key), dict):
            differs = f"another {flag} file"
        else:
            differs = f"{flag} {_shown(tuned.get(key))}, not {_shown(given.get(key))}"
        raise AttnsightError(f"{where} was tuned with {differs}: its trials would not compare; give the same "
                             f"options or another --study")
    study.set_user_attr("settings", given)


def _shown(value: Any) -> str:
    return "(unset)" if value is None else " ".join(map(str, value)) if isinstance(value, list) else str(value)


def discard_study(study: optuna.Study, storage: str, made: Sequence[Path] = ()) -> None:
    """Delete a study that holds nothing but this run's failed trial, and the files and folders
    (`made`, deepest last) the run created for it, so that a search ended by bad input leaves
    nothing behind; a study another worker has joined meanwhile is kept."""
    trials = study.get_trials(deepcopy=False)
    if len(trials) > 1 or any(t.state != TrialState.FAIL for t in trials):
        return
    optuna.delete_study(study_name=study.study_name, storage=storage)
    for path in reversed(made):
        with contextlib.suppress(OSError):  # a folder something else wrote into stays
            if path.is_file():
                path.unlink()
            else:
                path.rmdir()


def _fingerprint(path: Path) -> str:
    """SHA-256 of the data's bytes (a copy elsewhere has the same): a file's, or those of every file
    of a folder or glob (a parquet dataset), with their names."""
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file())
    else:
        files = [path] if path.is_file() else sorted(map(Path, glob.glob(str(path))))
    digest = hashlib.sha256()
    for file in files:
        if file != path:
            digest.update(file.name.encode() + b"\0")
        with file.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _storage(url: str, heartbeat: int, grace: int) -> optuna.storages.RDBStorage:
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    with contextlib.suppress(sqlalchemy.exc.ArgumentError):  # a malformed URL is named below
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise AttnsightError(f"storage {url}: an in-memory SQLite database ends with the search, so it could "
                                 f"not be resumed or shared; give a file: sqlite:///PATH/study.db")
    for _ in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the heartbeat is experimental
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=heartbeat, grace_period=grace,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
        except (ImportError, ValueError, sqlalchemy.exc.SQLAlchemyError) as exc:
            reason = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
            # workers started together race to create a new storage's tables (optuna#1092): the
            # loser finds them made a moment later
            if not (isinstance(exc, sqlalchemy.exc.IntegrityError) or "already exists" in str(reason)):
                break
            time.sleep(0.5)
    raise AttnsightError(f"storage {redact(url)}: {str(reason).splitlines()[0]}")


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Complete and pruned trials: what `trials` counts (not running, failed or queued ones)."""
    return study.get_trials(deepcopy=False, states=FINISHED)


def optimize(
    study: optuna.Study,
    task: str,
    fit: Fit,
    options: Mapping[str, Any],
    trials: int,
    timeout: float | None = None,
    callbacks: Iterable[TrialCallback] = (),
    space: Space | None = None,
) -> None:
    """Run trials until the study holds `trials` finished ones, counting those of earlier runs and
    of other workers, or until `timeout` seconds have passed (a running trial ends first).

    Each trial fits `{**options, **its values}`; `options` (JSON values) are stored with the trial
    so that the best one can be trained again whichever worker ran it.
    """
    space = SPACES[task] if space is None else space
    metric = METRICS[task]
    missing = trials - len(finished_trials(study))
    if missing <= 0:
        return

    def objective(trial: optuna.Trial) -> float:
        values = suggest(trial, space)
        trial.set_user_attr("options", dict(options))
        metrics = fit({**options, **values}, [PruningCallback(trial, metric)])
        trial.set_user_attr("test", {k: v for k, v in metrics["test"].items() if isinstance(v, (int, float))})
        return metrics["valid"].get(metric, math.nan)  # no validation at all: a failed trial

    # each worker stops once the study is full, whoever ran the trials (one that started its last
    # trial as another worker's made the count finishes it: trials running are not counted, as
    # a killed worker's would then stop the search short)
    done = optuna.study.MaxTrialsCallback(trials, states=FINISHED)
    with _quiet_about(AttnsightError):  # bad input ends the search, and is said once, by the caller
        study.optimize(objective, n_trials=missing, timeout=timeout, callbacks=[done, *callbacks])


@contextlib.contextmanager
def _quiet_about(error: type[Exception]) -> Iterator[None]:
    """Without Optuna's warnings about a trial that raised `error` (a traceback, then its value):
    study.optimize raises it, so they come last and say nothing more."""
    raised = False

    def keep(record: logging.LogRecord) -> bool:
        nonlocal raised
        raised = raised or bool(record.exc_info and isinstance(record.exc_info[1], error))
        return not raised

    logger = logging.getLogger("optuna.study._optimize")  # the one that warns of failed trials
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def best_config(study: optuna.Study, task: str) -> dict[str, Any]:
    """The best complete trial: its number, validation value, option values (the search's and its
    own: what `<task> train --config` takes) and, for information only, its test metrics."""
    try:
        best = study.best_trial
    except ValueError:  # no complete trial
        raise AttnsightError(f"study {study.study_name!r} has no complete trial yet: run more trials") from None
    return {
        "task": task,
        "study": study.study_name,
        "trial": best.number,
        "metric": METRICS[task],
        "value": best.value,
        "params": {**best.user_attrs.get("options", {}), **best.params},
        "test": best.user_attrs.get("test", {}),
    }
