"""`attnsight tune` and attnsight.tune: a study's best config trains again through `train --config`,
re-runs resume, workers share a storage, stale trials of killed workers are retried, the pruning
callback stops trials cleanly, and bad input ends in one line."""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from cli_helpers import assert_one_line_error, invoke

from attnsight.cli import recsys as recsys_cli
from attnsight.cli import risk as risk_cli
from attnsight.cli import text as text_cli
from attnsight.cli import tune as tune_cli
from attnsight.data.synthetic import make_audience, make_reviews, make_transactions
from attnsight.errors import AttnsightError, DataError
from attnsight.recommender import SequentialRecommender
from attnsight.tune import (
    SPACES,
    Choice,
    PruningCallback,
    Range,
    best_config,
    finished_trials,
    open_study,
    optimize,
)

SMALL = ["--epochs", "2", "--device", "cpu", "--seed", "0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def load(storage: str, name: str = "recsys") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


@pytest.fixture(scope="module")
def audience_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tune-data") / "audience.csv"
    make_audience(num_users=60, num_items=40, mean_events=12).interactions.frame.write_csv(path)
    return path


@pytest.fixture(scope="module")
def study_run(tmp_path_factory, audience_csv) -> dict[str, Any]:
    """A 2-trial recsys search over the documented space, with its JSON output."""
    out = tmp_path_factory.mktemp("tune-recsys") / "search"
    result = invoke("tune", "recsys", "--data", audience_csv, "--out", out, "--trials", 2, *SMALL, "--json")
    return {"out": out, "storage": f"sqlite:///{out / 'study.db'}", "payload": json.loads(result.stdout),
            "best": json.loads((out / "best.json").read_text())}


# ----------------------------------------------------------------------------- the command


def test_help_lists_the_tasks_and_their_search_spaces():
    assert all(task in invoke("tune", "--help").stdout for task in SPACES)
    for task in SPACES:
        shown = " ".join(invoke("tune", task, "--help").stdout.split())
        for option in ("--data", "--out", "--trials", "--storage", "--study", "--time-budget", "--trial-budget",
                       "--epochs", "--seed", "--json"):
            assert option in shown, (task, option)
        for name in SPACES[task]:  # the docstring names every searched option
            assert name in shown, (task, name)


@pytest.mark.parametrize("task", ["recsys", "text", "risk"])
def test_tune_options_default_as_the_train_options(task):
    train = inspect.signature(getattr({"recsys": recsys_cli, "text": text_cli, "risk": risk_cli}[task], "train"))
    tune = inspect.signature(getattr(tune_cli, task))
    shared = (set(train.parameters) & set(tune.parameters)) - {"ctx", "out", "json_out"}
    assert {"data", "epochs", "seed", "device"} <= shared
    for name in shared:
        assert tune.parameters[name].default == train.parameters[name].default, name


def test_best_json_is_the_best_trial_of_the_study(study_run):
    best, payload = study_run["best"], study_run["payload"]
    study = load(study_run["storage"])
    assert len(finished_trials(study)) == 2 == payload["finished"]
    assert best["value"] == study.best_value and best["trial"] == study.best_trial.number
    assert best["metric"] == "ndcg@10" and best["task"] == "recsys"
    assert set(SPACES["recsys"]) <= set(best["params"])
    assert {k: best["params"][k] for k in study.best_params} == study.best_params
    assert best["params"]["epochs"] == 2 and best["params"]["seed"] == 0
    assert "device" not in best["params"]  # the machine's, not the model's
    assert "ndcg@10" in best["test"]  # recorded for information
    out = study_run["out"]
    assert best["command"] == f"attnsight recsys train --config {out / 'best.json'} --out {out / 'model'}"
    assert payload["best"] == best
    assert [t["number"] for t in payload["trials"]] == [0, 1]
    assert all(t["state"] == "complete" and t["epochs"] == 2 for t in payload["trials"])


def test_best_json_names_files_by_absolute_path(study_run, audience_csv, tmp_path, monkeypatch):
    from attnsight.cli.tune import _json_value

    assert study_run["best"]["params"]["data"] == str(audience_csv)
    monkeypatch.chdir(tmp_path)  # a search started where its data is: `train --config` works from anywhere
    assert _json_value(Path("audience.csv")) == str(tmp_path.resolve() / "audience.csv")
    assert _json_value([Path("a.txt"), Path("b.txt")]) == [str(tmp_path.resolve() / n) for n in ("a.txt", "b.txt")]
    assert _json_value(0.5) == 0.5 and _json_value("head") == "head"


def test_best_config_trains_with_one_command_and_flags_win(study_run, tmp_path):
    best, config = study_run["best"], study_run["out"] / "best.json"
    trained = json.loads(invoke("recsys", "train", "--config", config, "--out", tmp_path / "a", "--device", "cpu",
                                "--json").stdout)
    assert trained["params"]["dim"] == best["params"]["dim"]
    assert trained["params"]["num_layers"] == best["params"]["layers"]
    assert trained["params"]["lr"] == best["params"]["lr"]
    assert trained["valid"]["ndcg@10"] == pytest.approx(best["value"], abs=1e-6)  # the trial, trained again
    other = 32 if best["params"]["dim"] != 32 else 64
    overridden = json.loads(invoke("recsys", "train", "--config", config, "--out", tmp_path / "b", "--dim", other,
                                   "--device", "cpu", "--json").stdout)
    assert overridden["params"]["dim"] == other
    assert overridden["params"]["max_len"] == best["params"]["max_len"]


def test_a_search_with_side_features_fuses_them_in_every_trial_and_in_best_json(tmp_path):
    audience = make_audience(num_users=60, num_items=40, mean_events=12)
    log, items = tmp_path / "log.csv", tmp_path / "items.csv"
    audience.interactions.frame.write_csv(log)
    audience.items.write_csv(items)
    side = ["--item-features", items, "--item-text", "title", "--item-categorical", "category"]
    out = tmp_path / "search"
    payload = json.loads(invoke("tune", "recsys", "--data", log, "--out", out, "--trials", 1, *SMALL, *side,
                                "--json").stdout)
    best = json.loads((out / "best.json").read_text())
    assert best["params"]["item_features"] == str(items) and best["params"]["item_categorical"] == ["category"]
    trained = json.loads(invoke("recsys", "train", "--config", out / "best.json", "--out", tmp_path / "model",
                                "--device", "cpu", "--json").stdout)
    assert trained["side"]["table"]["matched"] == 40
    assert trained["valid"]["ndcg@10"] == pytest.approx(payload["best"]["value"], abs=1e-6)  # the trial fused them too


def test_a_rerun_resumes_the_study_and_a_running_trial_does_not_block(study_run, audience_csv, tmp_path):
    storage = f"sqlite:///{tmp_path / 'copy.db'}"
    shutil.copy(study_run["out"] / "study.db", tmp_path / "copy.db")
    before = {t.number: t.value for t in load(storage).trials}
    load(storage).ask()  # what a worker killed mid-trial leaves: a trial forever running
    args = ["tune", "recsys", "--data", audience_csv, "--out", tmp_path / "out", "--storage", storage, *SMALL, "--json"]
    payload = json.loads(invoke(*args, "--trials", 3).stdout)
    study = load(storage)
    assert len(finished_trials(study)) == 3 == payload["finished"]
    assert {t.number: t.value for t in study.trials if t.number in before} == before  # the same study, kept
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "RUNNING", "COMPLETE"]
    again = json.loads(invoke(*args, "--trials", 3).stdout)  # already done: nothing more runs
    assert again["finished"] == 3 and len(load(storage).trials) == 4


def test_two_worker_processes_share_one_study(audience_csv, tmp_path):
    out = tmp_path / "parallel"
    command = [sys.executable, "-m", "attnsight", "tune", "recsys", "--data", str(audience_csv), "--out", str(out),
               "--trials", "3", "--epochs", "2", "--device", "cpu", "--json"]
    workers = [subprocess.Popen([*command, "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=ENV) for seed in (1, 2)]
    outputs = [w.communicate(timeout=180) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    study = load(f"sqlite:///{out / 'study.db'}")
    assert 3 <= len(finished_trials(study)) <= 4  # both stop once it is full; one may finish a last trial
    assert all(json.loads(stdout)["finished"] >= 3 for stdout, _ in outputs)
    assert json.loads((out / "best.json").read_text())["value"] == study.best_value


def test_time_budget_stops_the_search_and_trial_budget_is_part_of_the_config(audience_csv, tmp_path):
    out = tmp_path / "budget"
    result = invoke("tune", "recsys", "--data", audience_csv, "--out", out, "--trials", 50, "--time-budget", 0.1,
                    "--trial-budget", 30, *SMALL, "--json")
    payload = json.loads(result.stdout)
    assert 1 <= payload["finished"] < 50
    assert payload["best"]["params"]["time_budget"] == 30


def test_the_table_and_the_command_to_train_the_best(audience_csv, tmp_path):
    out = tmp_path / "table"
    shown = " ".join(invoke("tune", "recsys", "--data", audience_csv, "--out", out, "--trials", 1, *SMALL).stdout.split())
    assert "0 of 1 trials finished" in shown
    assert "trial 0 complete ndcg@10" in shown
    assert "Trials: validation ndcg@10" in shown and "negatives=" in shown
    assert f"attnsight recsys train --config {out / 'best.json'} --out {out / 'model'}" in shown


@pytest.fixture
def tiny_spaces(monkeypatch) -> None:
    """Text and risk trials over the smallest models: the documented spaces take minutes on a CPU."""
    monkeypatch.setitem(SPACES, "text", {"dim": Choice((32,)), "layers": Range(1, 1), "heads": Choice((2,)),
                                         "dropout": Range(0.0, 0.2), "lr": Range(1e-3, 3e-3, log=True),
                                         "max_len": Choice((32, 48))})
    monkeypatch.setitem(SPACES, "risk", {"dim": Choice((16,)), "layers": Range(1, 1), "heads": Choice((2,)),
                                         "dropout": Range(0.0, 0.2), "lr": Range(1e-3, 3e-3, log=True),
                                         "history_len": Choice((4, 6)), "negative_rate": Choice((0.5, 1.0))})


def test_a_text_study(tiny_spaces, tmp_path):
    data = tmp_path / "reviews.csv"
    make_reviews(200, "en", seed=0).frame.write_csv(data)
    payload = json.loads(invoke("tune", "text", "--data", data, "--out", tmp_path / "out", "--trials", 2, "--epochs", 1,
                                "--test-size", 0.25, "--device", "cpu", "--seed", 0, "--json").stdout)
    assert payload["finished"] == 2
    best = payload["best"]
    assert best["metric"] == "macro_f1" and 0 <= best["value"] <= 1
    assert best["params"]["test_size"] == 0.25 and best["params"]["max_len"] in (32, 48)
    assert "accuracy" in best["test"]


def test_a_risk_study(tiny_spaces, tmp_path):
    data = tmp_path / "transactions.csv"
    make_transactions(customers=60, terminals=120, days=40).write_csv(data)
    payload = json.loads(invoke(
        "tune", "risk", "--data", data, "--out", tmp_path / "out", "--trials", 2, "--account-col", "customer",
        "--label-col", "fraud", "--numeric", "amount", "--categorical", "channel", "--entity-col", "terminal",
        "--label-delay-days", 2, "--valid-days", 3, "--gap-days", 2, "--test-days", 5, "--keep-known",
        "--epochs", 1, "--device", "cpu", "--seed", 0, "--json").stdout)
    assert payload["finished"] == 2
    best = payload["best"]
    assert best["metric"] == "average_precision"
    assert best["params"]["numeric"] == ["amount"] and best["params"]["history_len"] in (4, 6)
    assert "baseline" not in best["params"]  # trials skip it; the trained config keeps train's default
    assert "roc_auc" in best["test"]


# ----------------------------------------------------------------------------- the library


def fake_fit(options: dict[str, Any], callbacks: list[Any]) -> dict[str, Any]:
    """A trial in milliseconds: its value follows its dropout."""
    time.sleep(0.05)
    return {"valid": {"ndcg@10": 1 - options["dropout"]}, "test": {"ndcg@10": 0.5, "protocol": "loo"}}


def test_two_workers_share_one_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    open_study(storage, "shared", "recsys")  # the first worker creates it
    errors: list[Exception] = []

    def worker(number: int) -> None:
        try:
            optimize(open_study(storage, "shared", "recsys", seed=number), "recsys", fake_fit, {"worker": number}, 8)
        except Exception as exc:  # noqa: BLE001 - a thread's error would go unseen
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    trials = finished_trials(load(storage, "shared"))
    assert 8 <= len(trials) <= 9  # each stops once the study is full; one may be finishing a last trial
    assert {t.user_attrs["options"]["worker"] for t in trials} == {1, 2}
    assert all(t.user_attrs["test"] == {"ndcg@10": 0.5} for t in trials)  # numbers only


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # retried_trial_number
@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # the test plays a worker by hand
def test_a_killed_workers_trial_is_failed_and_retried(tmp_path):
    storage = f"sqlite:///{tmp_path / 'stale.db'}"
    study = open_study(storage, "stale", "recsys", heartbeat=1, grace=1)
    stale = study.ask()
    dropout = stale.suggest_float("dropout", 0.0, 0.5)
    study._storage.record_heartbeat(stale._trial_id)  # what the killed worker's heartbeat thread did last
    time.sleep(2.2)
    optimize(open_study(storage, "stale", "recsys", heartbeat=1, grace=1), "recsys", fake_fit, {}, 2)
    trials = load(storage, "stale").trials
    assert trials[0].state == optuna.trial.TrialState.FAIL
    retried = [t for t in trials if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == 0]
    assert len(retried) == 1 and retried[0].params["dropout"] == dropout
    assert retried[0].state == optuna.trial.TrialState.COMPLETE


def test_the_pruning_callback_reports_training_epochs_and_prunes():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    trial = study.ask()
    callback = PruningCallback(trial, "ndcg@10")
    callback.on_epoch_end(SimpleNamespace(name="pretrain"), 1, {"valid_ndcg@10": 0.1})  # another phase: ignored
    with pytest.raises(optuna.TrialPruned):
        callback.on_epoch_end(SimpleNamespace(name="train"), 1, {"loss": 1.0, "valid_ndcg@10": 0.2})
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert study.trials[0].intermediate_values == {1: 0.2}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_median_pruning_starts_at_the_sixth_trial_and_the_third_epoch(tmp_path):
    study = open_study(f"sqlite:///{tmp_path / 'median.db'}", "median", "recsys")

    def prunes_at(step: int) -> bool:
        trial = study.ask()
        for epoch in range(1, step + 1):
            trial.report(0.1, epoch)
        pruned = trial.should_prune()
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return pruned

    good = optuna.trial.create_trial(value=0.5, intermediate_values={1: 0.5, 2: 0.5, 3: 0.5})
    for _ in range(4):
        study.add_trial(good)
    assert not prunes_at(3)  # four complete trials: too few to compare with
    study.add_trial(good)
    assert not prunes_at(2) and prunes_at(3)


def test_a_pruned_trial_ends_cleanly_inside_fit_and_the_search_goes_on(tmp_path):
    interactions = make_audience(num_users=40, num_items=30, mean_events=10).interactions

    def fit(options: dict[str, Any], callbacks: list[Any]) -> dict[str, Any]:
        rec = SequentialRecommender(max_len=20, dim=options["dim"], num_layers=1, num_heads=options["heads"],
                                    epochs=4, device="cpu", seed=0)
        return rec.fit(interactions, callbacks=callbacks).metrics_

    study = open_study(f"sqlite:///{tmp_path / 'pruned.db'}", "pruned", "recsys")
    study.pruner = optuna.pruners.ThresholdPruner(lower=2.0)  # every value is below: prune at the first epoch
    optimize(study, "recsys", fit, {}, trials=2, space={"dim": Choice((16,)), "heads": Choice((1, 2))})
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(t.last_step == 1 for t in trials)  # stopped after epoch 1 of 4, and the next trial ran
    with pytest.raises(AttnsightError, match="no complete trial"):
        best_config(study, "recsys")


# ----------------------------------------------------------------------------- bad input


def test_config_with_an_unknown_option_is_one_line(monkeypatch, capsys, audience_csv, tmp_path):
    config = tmp_path / "best.json"
    config.write_text(json.dumps({"params": {"dim": 32, "dimm": 64}}))
    assert_one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", audience_csv, "--out", tmp_path / "m",
                                                "--config", config], str(config), "'dimm'")
    config.write_text(json.dumps({"dim": 32}))
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--data", audience_csv, "--out", tmp_path / "m",
                                                "--config", config], str(config), '"params"')


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--storage", "nosuchdb://x"], ["storage nosuchdb://x", "Can't load plugin"]),
        (["--storage", "sqlite:////no/such/folder/study.db"], ["unable to open database file"]),
        (["--storage", "postgresql://tuner:secret@127.0.0.1:1/optuna"], ["tuner:***@127.0.0.1:1", "connection"]),
        (["--trials", "0"], ["--trials must be at least 1"]),
        (["--trial-budget", "-5"], ["--trial-budget must be positive"]),
        (["--trial-budget", "nan"], ["--trial-budget must be positive, not nan"]),
        (["--storage", "sqlite://"], ["storage sqlite://: an in-memory SQLite database"]),
        (["--storage", "sqlite:///:memory:"], ["an in-memory SQLite database"]),
        (["--device", "bogus"], ["--device must be"]),
    ],
)
def test_bad_input_is_one_line(monkeypatch, capsys, audience_csv, tmp_path, args, fragments):
    line = assert_one_line_error(monkeypatch, capsys, ["tune", "recsys", "--data", audience_csv, "--out", tmp_path / "o",
                                                       *args], *fragments)
    assert "secret" not in line
    assert not (tmp_path / "o" / "study.db").exists()


def test_under_torchrun_tune_says_to_start_workers_instead(monkeypatch, capsys, audience_csv, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it: each rank would draw a trial of its own
    assert_one_line_error(monkeypatch, capsys, ["tune", "recsys", "--data", audience_csv, "--out", tmp_path / "o"],
                          "tune runs each trial in one process", "not torchrun")
    assert not (tmp_path / "o").exists()


def test_an_unknown_task_is_one_line(monkeypatch, capsys):
    assert_one_line_error(monkeypatch, capsys, ["tune", "movies", "--trials", "3"], "unknown task 'movies'",
                          "recsys, text or risk")


def test_without_optuna_the_error_says_what_to_install(monkeypatch, capsys, audience_csv, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` fails as when it is not installed
    for name in [m for m in sys.modules if m == "attnsight.tune" or m.startswith("attnsight.tune.")]:
        monkeypatch.delitem(sys.modules, name)
    assert_one_line_error(monkeypatch, capsys, ["tune", "recsys", "--data", audience_csv, "--out", tmp_path / "o"],
                          "pip install 'attnsight[tune]'")


@pytest.fixture
def reviews_csv(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    make_reviews(40, "en", seed=0).frame.write_csv(path)
    return path


def _foreign_studies(storage: str) -> None:
    optuna.create_study(storage=storage, study_name="multi", directions=["maximize", "maximize"])
    optuna.create_study(storage=storage, study_name="min", direction="minimize")
    study = optuna.create_study(storage=storage, study_name="foreign", direction="maximize")
    study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.5)
    study = optuna.create_study(storage=storage, study_name="bare", direction="maximize")
    study.tell(study.ask(), 0.5)  # no parameters, but not attnsight's either


@pytest.mark.parametrize(("name", "why"), [("multi", "is set to maximize and maximize"), ("min", "is set to minimize"),
                                           ("foreign", "was not made by `attnsight tune text` (parameter 'x')"),
                                           ("bare", "was not made by `attnsight tune text`: ")])
def test_a_study_attnsight_did_not_make_is_refused(monkeypatch, capsys, reviews_csv, tmp_path, name, why):
    storage = f"sqlite:///{tmp_path / 'other.db'}"
    _foreign_studies(storage)
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", reviews_csv, "--out", tmp_path / "o",
                                                "--storage", storage, "--study", name, "--epochs", 1],
                          f"study {name!r} in {storage} {why}")
    assert not (tmp_path / "o" / "best.json").exists()


def test_a_study_is_tuned_on_one_data_file(tmp_path):
    storage, tiny, swapped = f"sqlite:///{tmp_path / 'data.db'}", tmp_path / "tiny.csv", tmp_path / "swapped.csv"
    tiny.write_text("user,item\n1,2\n")
    swapped.write_text("user,item\n1,3\n")
    open_study(storage, "s", "recsys", data=swapped)  # no trial judged on it yet: other data may take the study
    optimize(open_study(storage, "s", "recsys", data=tiny), "recsys", fake_fit, {}, 1)
    assert load(storage, "s").user_attrs["data"] == str(tiny)
    with pytest.raises(AttnsightError, match=re.escape(f"study 's' in {storage} was tuned on {tiny}; give another "
                                                       f"--study for {swapped}")):
        open_study(storage, "s", "recsys", data=swapped)
    copy = tmp_path / "copy" / "tiny.csv"  # a worker's own copy of the same data
    copy.parent.mkdir()
    shutil.copy(tiny, copy)
    open_study(storage, "s", "recsys", data=copy)


def test_a_study_is_tuned_under_one_set_of_fixed_options(tmp_path):
    storage, items = f"sqlite:///{tmp_path / 'options.db'}", tmp_path / "items.csv"
    items.write_text("item,category\n1,a\n")
    settings = {"min_len": 3, "epochs": 2, "time_budget": None, "item_features": items}
    open_study(storage, "s", "recsys", settings={**settings, "min_len": 5})  # no trial yet: any options may take it
    optimize(open_study(storage, "s", "recsys", settings=settings), "recsys", fake_fit, {}, 1)
    for changed, said in [({"min_len": 20}, "--min-len 3, not 20"), ({"time_budget": 60.0}, "--trial-budget (unset), "
                          "not 60.0"), ({"epochs": 3, "min_len": 20}, "--epochs 2, not 3")]:
        with pytest.raises(AttnsightError, match=re.escape(f"study 's' in {storage} was tuned with {said}: its trials "
                                                           "would not compare")):
            open_study(storage, "s", "recsys", settings={**settings, **changed})
    items.write_text("item,category\n1,b\n")  # the same file name, other contents
    with pytest.raises(AttnsightError, match="was tuned with another --item-features file"):
        open_study(storage, "s", "recsys", settings=settings)
    copy = tmp_path / "copy.csv"
    copy.write_text("item,category\n1,a\n")  # a worker's own copy of the same file
    open_study(storage, "s", "recsys", settings={**settings, "item_features": copy})


def test_best_json_of_another_search_is_not_overwritten(monkeypatch, capsys, study_run, reviews_csv, tmp_path):
    out = tmp_path / "shared"
    shutil.copytree(study_run["out"], out)
    before = (out / "best.json").read_bytes()
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", reviews_csv, "--out", out, "--epochs", 1],
                          f"{out / 'best.json'} holds the best of study 'recsys' of `tune recsys`")
    assert_one_line_error(monkeypatch, capsys, ["tune", "recsys", "--data", reviews_csv, "--out", out, "--study", "b"],
                          "holds the best of study 'recsys'")
    assert (out / "best.json").read_bytes() == before
    assert_one_line_error(monkeypatch, capsys, ["text", "train", "--config", out / "best.json", "--data", reviews_csv,
                                                "--out", tmp_path / "m"],
                          f"{out / 'best.json'}: the options of a recsys model (`attnsight tune recsys`), not of "
                          "`attnsight text train`")


def test_a_data_error_in_a_trial_ends_the_search_in_one_line(monkeypatch, capsys, tmp_path):
    study = open_study(f"sqlite:///{tmp_path / 'bad.db'}", "bad", "recsys")
    shown: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: shown.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("optuna").addHandler(handler)  # optuna's own handler writes to the stderr of its import

    def fit(options: dict[str, Any], callbacks: list[Any]) -> dict[str, Any]:
        raise DataError("oneclass.csv", "only one class ('pos'); a classifier needs at least two")

    try:
        with pytest.raises(DataError, match="only one class"):
            optimize(study, "recsys", fit, {}, 3)
        assert shown == []  # the caller says it, once
        assert len(study.trials) == 1  # the search stopped at the first
        assert logging.getLogger("optuna.study._optimize").filters == []  # later searches warn again
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    data = tmp_path / "oneclass.csv"
    data.write_text("text,label\n" + "".join(f"text number {i},pos\n" for i in range(30)))
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", data, "--out", tmp_path / "o", "--epochs", 1],
                          f"{data}: only one class ('pos')")
    assert not (tmp_path / "o").exists()  # said on reading: no study holds a failed trial for it
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", tmp_path / "nosuch.csv", "--out",
                                                tmp_path / "never"], "nosuch.csv")
    assert not (tmp_path / "never").exists()  # unreadable data: no study made
    texts = tmp_path / "texts.csv"
    texts.write_text("text,label\n" + "".join(f"text number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(30)))
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", texts, "--out", tmp_path / "late",
                                                "--epochs", 1, "--valid-size", 0], "--valid-size 0 leaves no validation")
    assert not (tmp_path / "late").exists()  # found by the first trial: its study, file and folder are gone
    storage = f"sqlite:///{tmp_path / 'kept.db'}"
    optimize(open_study(storage, "text", "text"), "text", lambda options, callbacks: {"valid": {"macro_f1": 0.5},
                                                                                     "test": {}}, {}, 1)
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", texts, "--out", tmp_path / "kept", "--epochs",
                                                1, "--valid-size", 0, "--storage", storage, "--trials", 2], "--valid-size 0")
    assert [t.state.name for t in load(storage, "text").trials] == ["COMPLETE", "FAIL"]  # a study with results stays


def test_out_must_be_a_folder(monkeypatch, capsys, reviews_csv, tmp_path):
    (tmp_path / "afile").touch()
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", reviews_csv, "--out", tmp_path / "afile"],
                          f"--out {tmp_path / 'afile'} is a file, not a folder")
    assert_one_line_error(monkeypatch, capsys, ["tune", "text", "--data", reviews_csv, "--out",
                                                tmp_path / "afile" / "study"],  # found before any data is read
                          f"--out {tmp_path / 'afile' / 'study'}: {tmp_path / 'afile'} is a file, not a folder")
