"""`attnsight serve` refusing what it cannot serve: startup errors in one line before the server
starts, bad option values, reloads of damaged or untrained bundles (422, the old version kept),
loosely typed event fields, and recommend errors naming the request they belong to."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from attnsight.classifier import TextClassifier
from attnsight.cli import app
from attnsight.data.synthetic import make_reviews
from attnsight.errors import AttnsightError
from attnsight.serve import Settings, create_app, open_service
from cli_helpers import assert_one_line_error
from serve_fixtures import TEXT_TINY, Bundles, train_bundles


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> Bundles:
    return train_bundles(tmp_path_factory.mktemp("serve-errors"))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A `text pretrain` bundle: an encoder without classes or labels."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("pretrain") / "pre"
    TextClassifier(**{**TEXT_TINY, "epochs": 1}).pretrain(make_reviews(100, "en", seed=0)).save_pretrained(path)
    return path


@pytest.fixture
def client(bundles, tmp_path) -> Iterator[TestClient]:
    settings = Settings(models=bundles.paths, store=f"sqlite:///{tmp_path / 'events.db'}", device="cpu")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def copy_of(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy" / bundle.name
    shutil.copytree(bundle, copy)
    return copy


# ----------------------------------------------------------------------------- startup


def test_two_bundles_with_one_folder_name_are_a_one_line_error(monkeypatch, capsys, bundles, tmp_path):
    copy = copy_of(bundles.text, tmp_path)
    assert_one_line_error(monkeypatch, capsys, ["serve", "--model", bundles.text, "--model", copy, "--store",
                                                f"sqlite:///{tmp_path / 'e.db'}"], "share the folder name 'text'")


def test_a_store_that_is_not_a_database_is_a_one_line_error(monkeypatch, capsys, bundles, tmp_path):
    (tmp_path / "tiny.csv").write_text("text,label\n" + "a good one,pos\n" * 300)
    assert_one_line_error(monkeypatch, capsys, ["serve", "--model", bundles.text, "--store",
                                                f"sqlite:///{tmp_path / 'tiny.csv'}"], "tiny.csv", "not a database")


def test_a_damaged_bundle_and_an_unknown_device_are_one_line_errors(monkeypatch, capsys, bundles, tmp_path):
    store = f"sqlite:///{tmp_path / 'e.db'}"
    copy = copy_of(bundles.text, tmp_path)
    (copy / "profile.json").write_text("x")
    assert_one_line_error(monkeypatch, capsys, ["serve", "--model", copy, "--store", store], "damaged bundle", "profile.json: Expecting value")
    assert_one_line_error(monkeypatch, capsys, ["serve", "--model", bundles.text, "--store", store,
                                                "--device", "tpu"], "--device", "tpu")
    assert not list(tmp_path.glob("e.db*"))  # a start that failed leaves no store it created
    (tmp_path / "kept.db").write_bytes(b"")  # one that was there stays
    assert_one_line_error(monkeypatch, capsys, ["serve", "--model", copy, "--store", f"sqlite:///{tmp_path / 'kept.db'}"],
                          "damaged bundle")
    assert (tmp_path / "kept.db").is_file()


def test_a_pretraining_bundle_is_refused_at_startup(monkeypatch, capsys, pretrained, tmp_path):
    assert_one_line_error(monkeypatch, capsys, ["serve", "--model", pretrained, "--store",
                                                f"sqlite:///{tmp_path / 'e.db'}"],
                          "pretraining bundle", f"text train --init {pretrained}")


def test_a_service_opened_before_the_app_serves_and_closes_with_it(bundles, tmp_path):
    """The CLI's way: bundles and store opened first (errors in one line), then handed to uvicorn."""
    settings = Settings(models=(bundles.text,), store=f"sqlite:///{tmp_path / 'e.db'}", device="cpu")
    service = open_service(settings)
    with TestClient(create_app(settings, service)) as client:
        assert client.post("/v1/classify", json={"texts": ["a fine room"]}).status_code == 200
        assert client.app.state.registry is service.registry
    assert service.registry.all() == []  # closed with the app


@pytest.mark.parametrize("option", [("--port", "99999"), ("--port", "-1"), ("--max-body-mb", "0"),
                                    ("--max-batch", "0"), ("--max-batch", "-3"), ("--batch-wait-ms", "-5"),
                                    ("--log-level", "loud")])
def test_option_values_out_of_range_are_refused_before_anything_loads(option, tmp_path):
    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "none"), *option],
                                env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 2, result.output
    assert option[0] in result.output and "Traceback" not in result.output


# ----------------------------------------------------------------------------- reload


def damage_tokenizer(path: Path) -> str:
    (path / "tokenizer.json").unlink()
    return "tokenizer.json"


def damage_profile(path: Path) -> str:
    (path / "profile.json").write_text("x")
    return "profile.json"


def damage_labels(path: Path) -> str:
    (path / "labels.json").write_text("{}")
    return "labels.json"


@pytest.mark.parametrize("damage", [damage_tokenizer, damage_profile, damage_labels])
def test_reloading_a_damaged_bundle_is_a_422_naming_the_file_and_keeps_the_old_one(client, tmp_path, damage):
    copy = copy_of(client.app.state.registry.get("text", "text").path, tmp_path)
    file = damage(copy)
    response = client.post("/v1/models/reload", json={"name": "text", "path": str(copy)})
    assert response.status_code == 422, response.text
    assert file in response.json()["detail"]
    assert client.app.state.registry.get("text", "text").version == 1
    classified = client.post("/v1/classify", json={"texts": ["a fine product"]})
    assert classified.status_code == 200, classified.text


def test_reloading_a_pretraining_bundle_over_a_classifier_is_refused(client, pretrained):
    response = client.post("/v1/models/reload", json={"name": "text", "path": str(pretrained)})
    assert response.status_code == 422, response.text
    assert "pretraining bundle" in response.json()["detail"]
    assert client.post("/v1/classify", json={"texts": ["a fine product"]}).status_code == 200


def test_reloading_a_path_longer_than_the_file_system_allows_is_a_422(client):
    response = client.post("/v1/models/reload", json={"name": "text", "path": "a" * 5000})
    assert response.status_code == 422, response.text
    assert "cannot be a bundle folder (File name too long)" in response.json()["detail"]
    assert client.app.state.registry.get("text", "text").version == 1


# ----------------------------------------------------------------------------- event fields


def transaction(bundles: Bundles, **fields: Any) -> dict[str, Any]:
    return {**bundles.transactions[0], "transaction_id": "new-1", **fields}


@pytest.mark.parametrize("column, value", [("customer", {"x": 1}), ("terminal", [1]), ("customer", True),
                                           ("channel", {"a": "b"})])
def test_ids_and_categories_must_be_strings_or_numbers(client, bundles, tmp_path, column, value):
    row = transaction(bundles, **{column: value})
    for url in ("/v1/events", "/v1/risk/score"):
        response = client.post(url, json={"transactions": [row]})
        assert response.status_code == 422, (url, response.text)
        assert f"transactions[0].{column}" in response.json()["detail"]
    assert client.app.state.store.count("transactions") == 0


def test_integer_and_string_ids_are_still_accepted(client, bundles):
    row = transaction(bundles, customer=12345)
    response = client.post("/v1/events", json={"transactions": [row]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("timestamp", [1e30, -1e30, True, 1e15, "9999-12-31T23:59:59-05:00", "1e30", "nan"])
def test_behaviour_timestamps_are_bounded_and_not_booleans(client, timestamp):
    response = client.post("/v1/events", json={"events": [{"user": "u", "item": "i", "timestamp": timestamp}]})
    assert response.status_code == 422, response.text
    assert "events[0].timestamp" in response.json()["detail"]
    assert client.app.state.store.count("behaviour") == 0


def test_behaviour_timestamps_may_be_epoch_seconds_written_as_text(client):
    response = client.post("/v1/events", json={"events": [{"user": "u", "item": "i", "timestamp": "1700000000"}]})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("field, value, message", [
    ("timestamp", 1e30, "not a number or ISO 8601 date"),  # beyond int64: once a 500
    ("timestamp", -1e15, "not a time of the years 1 to 9999"),
    ("amount", 1e300, "too large for a float32"),
])
def test_transactions_out_of_range_are_refused(client, bundles, field, value, message):
    assert field in bundles.transactions[0], bundles.transactions[0]
    row = transaction(bundles, **{field: value})
    for url in ("/v1/events", "/v1/risk/score"):
        response = client.post(url, json={"transactions": [row]})
        assert response.status_code == 422, (url, response.text)
        assert message in response.json()["detail"], response.text
    assert client.app.state.store.count("transactions") == 0


def test_an_unknown_model_on_an_events_only_body_is_reported(client):
    response = client.post("/v1/events", json={"events": [{"user": "u", "item": "i"}], "model": "nope"})
    assert response.status_code == 404, response.text
    assert "'nope'" in response.json()["detail"]
    assert client.app.state.store.count("behaviour") == 0


# ----------------------------------------------------------------------------- recommend


def test_a_recommend_error_names_its_request(client, bundles):
    rec = client.app.state.registry.get("recsys", "recsys").predictor
    known = rec.item_vocab_.decode([1])[0]
    response = client.post("/v1/recommend", json={"requests": [{"history": [known]}, {"history": ["zzz"]}]})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("requests[1].history: ")
    response = client.post("/v1/recommend", json={"requests": [{"history": [known]}, {"user": "nobody-at-all"}]})
    assert response.status_code == 404, response.text
    assert response.json()["detail"].startswith("requests[1].user: unknown user 'nobody-at-all'")


def test_labels_that_do_not_match_the_output_layer_fail_the_startup(bundles, tmp_path):
    copy = copy_of(bundles.text, tmp_path)
    (copy / "labels.json").write_text(json.dumps(["only-one"]))
    settings = Settings(models=(copy,), store=f"sqlite:///{tmp_path / 'e.db'}", device="cpu")
    with pytest.raises(AttnsightError, match="labels.json"):
        with TestClient(create_app(settings)):
            pass
