"""The web page end to end: the real service (uvicorn on a free port, over the tiny bundles) driven
in headless Chromium through Playwright; each view must show what the JSON API answers for the same
input. Needs the Debian `chromium` package and the `playwright` wheel (its browser download is never
used): skipped without them.

Also the tool that takes the README's screenshot against a running service:
    python tests/test_web_ui_e2e.py http://127.0.0.1:8765/ docs/web-ui.png
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
WAIT_MS = 20_000  # the longest one view may take to show its answer


def launch(playwright: Any) -> Any:
    """Headless system Chromium: Playwright's own browser download is never needed."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


# ----------------------------------------------------------------------------- the service and the browser


class Service(NamedTuple):
    url: str
    bundles: Any  # serve_fixtures.Bundles: the recsys, text and risk bundles
    featured: Any  # a SequentialRecommender with item features, served as "featured"


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[Service]:
    """A uvicorn server in a thread over freshly trained tiny bundles (the three of the serve tests,
    and a recommender with item features)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install the Debian package chromium (.ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="the playwright wheel is missing: pip install playwright")
    import uvicorn

    from attnsight.serve import Settings, create_app
    from serve_fixtures import train_bundles
    from test_serve_ui import train_featured_recsys

    root = tmp_path_factory.mktemp("ui-e2e")
    bundles = train_bundles(root)
    featured = train_featured_recsys(root / "featured")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(models=(*bundles.paths, root / "featured"), store=f"sqlite:///{root / 'events.db'}",
                        device="cpu")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start")
        time.sleep(0.05)
    yield Service(f"http://127.0.0.1:{port}", bundles, featured)
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(service) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, service) -> Iterator[Any]:
    """A fresh page on the service; any script error in it fails the test."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert errors == []


def open_view(page: Any, service: Service, view: str) -> Any:
    """The page at one view, once the models and the pickers have loaded."""
    page.goto(f"{service.url}/#{view}")
    page.wait_for_function("document.querySelectorAll('#loaded li').length === 4")
    return page.locator(f"#{view}")


def answer(view: Any, selector: str) -> Any:
    """The first `selector` of the view's answer once shown; an error box shown instead fails with its
    message (a timeout alone would not say why the answer never came)."""
    view.locator(f"{selector}:visible, .error:visible").first.wait_for()
    error = view.locator(".error")
    assert error.is_hidden(), error.inner_text()
    return view.locator(selector).first


def api(service: Service, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{service.url}{path}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


# ----------------------------------------------------------------------------- the views


def test_users_view_shows_the_apis_recommendations_and_attention(page, service):
    bundles = service.bundles
    user = bundles.recommender.sequences_.users[5]
    view = open_view(page, service, "users")
    view.locator("input[name=user]").fill(user)
    view.locator("input[name=k]").fill("5")
    view.locator("button[type=submit]").click()
    answer(view, ".recs tbody tr")
    rows = view.locator(".recs tbody tr")
    (expected,) = api(service, "/v1/recommend", {"model": "recsys", "requests": [
        {"user": user, "k": 5, "attention": True}]})["results"]
    assert [rows.nth(i).get_attribute("data-item") for i in range(rows.count())] == [i["item"] for i in expected["items"]]
    assert rows.nth(0).locator("td.num").inner_text() == f"{expected['items'][0]['score']:.2f}"
    reasons = rows.nth(0).locator(".because li")
    assert reasons.count() == len(expected["items"][0]["because"])
    assert expected["items"][0]["because"][0]["item"] in reasons.nth(0).inner_text()
    chips = view.locator(".history li")
    assert [chips.nth(i).get_attribute("data-item") for i in range(chips.count())] == [
        a["item"] for a in expected["attention"]]
    shading = [float(chips.nth(i).evaluate("e => e.style.getPropertyValue('--w')")) for i in range(chips.count())]
    assert max(shading) == pytest.approx(1.0) and min(shading) >= 0  # the most attended item is the darkest
    rows.nth(0).hover()  # its reasons are marked in the history
    assert view.locator(".history li.reason").count() == len({b["item"] for b in expected["items"][0]["because"]})
    assert view.locator(".shared").count() == 0  # a model without item features shares none


def test_users_view_shows_the_side_features_each_recommendation_shares(page, service):
    users = service.featured.sequences_.users[:10]
    # the first user with a recommendation that shares a feature with its reasons
    user, expected = next((u, r) for u in users for r in api(service, "/v1/recommend", {
        "model": "featured", "requests": [{"user": u, "k": 5}]})["results"] if any(i["features"] for i in r["items"]))
    view = open_view(page, service, "users")
    view.locator("select[name=model]").select_option("featured")
    view.locator("input[name=user]").fill(user)
    view.locator("input[name=k]").fill("5")
    view.locator("button[type=submit]").click()
    answer(view, ".recs tbody tr")
    rows = view.locator(".recs tbody tr")
    assert [rows.nth(i).get_attribute("data-item") for i in range(rows.count())] == [i["item"] for i in expected["items"]]
    for row, item in zip((rows.nth(i) for i in range(rows.count())), expected["items"]):
        shown = row.locator(".feature")
        assert [shown.nth(j).inner_text() for j in range(shown.count())] == [
            f"{f['feature']}: {f['value']} {f['shared']}/{len(item['because'])}" for f in item["features"]]
        assert [float(shown.nth(j).evaluate("e => e.style.getPropertyValue('--w')")) for j in range(shown.count())] \
            == pytest.approx([f["weight"] for f in item["features"]])  # shaded by the item's attention to it


def test_an_api_error_is_shown_as_a_readable_message(page, service):
    view = open_view(page, service, "users")
    view.locator("input[name=user]").fill(service.bundles.recommender.sequences_.users[0])
    view.locator("button[type=submit]").click()
    answer(view, ".recs tbody tr")
    view.locator("input[name=user]").fill("no-such-user")
    view.locator("button[type=submit]").click()
    error = view.locator(".error")
    error.wait_for()
    assert "404" in error.inner_text() and "unknown user 'no-such-user'" in error.inner_text()
    assert view.locator(".result").is_hidden()  # the first user's answer does not stand under the error


def test_text_view_shows_the_classifiers_label_and_escapes_the_text(page, service):
    text = "the room was dirty <b>and</b> the staff rude"
    view = open_view(page, service, "text")
    view.locator("textarea[name=text]").fill(text)
    view.locator("button[type=submit]").click()
    label = answer(view, "[data-field=label]")
    (classified,) = api(service, "/v1/classify", {"texts": [text]})["results"]
    (explained,) = api(service, "/v1/explain-text", {"texts": [text]})["results"]
    assert label.inner_text() == classified["label"]
    assert view.locator(".bars tr").count() == len(classified["probabilities"])
    assert view.locator(".bars .chosen th").inner_text() == classified["label"]
    words = view.locator(".highlighted mark")
    assert words.count() == len(explained["words"])
    assert view.locator(".highlighted b").count() == 0  # the text is shown, never parsed as HTML
    assert view.locator(".highlighted").inner_text() == explained["text"]


def test_text_view_marks_the_words_after_an_emoji_where_they_are(page, service):
    text = "great 👍🏽 hotel, dirty room"  # the API counts code points, JavaScript UTF-16 units
    view = open_view(page, service, "text")
    view.locator("textarea[name=text]").fill(text)
    view.locator("button[type=submit]").click()
    answer(view, "[data-field=label]")
    (explained,) = api(service, "/v1/explain-text", {"texts": [text]})["results"]
    marks = view.locator(".highlighted mark")
    assert [marks.nth(i).inner_text() for i in range(marks.count())] == [
        explained["text"][w["start"] : w["end"]] for w in explained["words"]]
    assert view.locator(".highlighted").inner_text() == explained["text"]


def test_a_metric_a_bundle_could_not_compute_shows_as_a_dash(page, service):
    def without_accuracy(route: Any) -> None:
        models = route.fetch().json()
        for model in models["models"]:
            if model["name"] == "text":
                model["test"]["accuracy"] = None  # as the API sends a NaN (ROC AUC of a test without positives)
        route.fulfill(json=models)

    page.route("**/v1/models", without_accuracy)
    view = open_view(page, service, "models")
    assert view.locator(".card[data-model=text] tr[data-metric=accuracy] td.model").inner_text() == "—"
    users = open_view(page, service, "users")  # the page goes on working (the fixture fails on any script error)
    users.locator("input[name=user]").fill(service.bundles.recommender.sequences_.users[0])
    users.locator("button[type=submit]").click()
    answer(users, ".recs tbody tr")


def test_items_view_shows_the_audience_and_its_segments(page, service):
    bundles = service.bundles
    item = bundles.recommender.item_vocab_.ids[3]
    view = open_view(page, service, "items")
    view.locator("input[name=item]").fill(item)
    view.locator("input[name=k]").fill("8")
    view.locator("button[type=submit]").click()
    answer(view, ".card")  # segment cards come after the audience
    (expected,) = api(service, "/v1/audience", {"model": "recsys", "requests": [{"item": item, "k": 8}]})["results"]
    users = [r["id"] for r in expected["results"]]
    assert users
    rows = view.locator(".audience tbody tr")
    assert [rows.nth(i).locator("a").inner_text() for i in range(rows.count())] == users
    segments = httpx.get(f"{service.url}/v1/segments", params={"model": "recsys", "user": users}, timeout=60).json()
    assert [rows.nth(i).locator(".segment").inner_text() for i in range(rows.count())] == [
        f"segment {segments['members'][u]}" for u in users]
    assert view.locator(".card").count() == len(set(segments["members"].values()))


def test_transactions_view_shows_the_risk_score_and_its_evidence(page, service):
    view = open_view(page, service, "transactions")
    page.wait_for_function("document.querySelector('#transactions textarea[name=transaction]').value !== ''")
    view.locator("button[type=submit]").click()
    score = view.locator("[data-field=score]")
    page.wait_for_function("document.querySelector('#transactions [data-field=score]').textContent !== ''")
    earlier = json.loads(view.locator("textarea[name=history]").input_value())
    transaction = json.loads(view.locator("textarea[name=transaction]").input_value())
    results = api(service, "/v1/risk/score", {"transactions": [*earlier, transaction]})["results"]
    assert score.inner_text().split()[0] == f"{results[-1]['score']:.3f}"
    evidence = view.locator(".evidence tbody tr")
    assert evidence.count() >= 1
    assert {evidence.nth(i).locator("td").nth(1).inner_text() for i in range(evidence.count())} <= {
        str(row[service.bundles.scorer.schema_.id]) for row in earlier}


def test_models_view_shows_each_bundles_test_metrics_beside_baselines(page, service):
    bundles = service.bundles
    view = open_view(page, service, "models")
    assert view.locator(".card").count() == 4
    recsys = view.locator(".card[data-model=recsys]")
    ndcg = bundles.recommender.metrics_["test"]["ndcg@10"]
    assert recsys.locator("tr[data-metric='ndcg@10'] td.model").inner_text() == f"{ndcg:.3f}"
    assert "popularity" in recsys.locator("thead").inner_text().lower()
    accuracy = bundles.classifier.metrics_["test"]["accuracy"]
    assert view.locator(".card[data-model=text] tr[data-metric=accuracy] td.model").inner_text() == f"{accuracy:.3f}"


# ----------------------------------------------------------------------------- the README's screenshot


def screenshot(url: str, out: Path) -> None:
    """The Users view of a running service: the first user's five recommendations and attention,
    saved in 256 colours (Pillow), a third of the size and no visible loss for a page of flat colours."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url.rstrip('/')}/#users")
        page.wait_for_function("document.querySelector('#users input[name=user]').value !== ''")
        page.fill("#users input[name=k]", "5")
        page.click("#users button[type=submit]")
        page.locator("#users .recs tbody tr").first.wait_for()
        page.locator("#users .recs tbody tr").first.hover()  # marks the first recommendation's reasons
        page.screenshot(path=str(out), full_page=True)
        chromium.close()
    Image.open(out).convert("RGB").quantize(256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, optimize=True)


if __name__ == "__main__":
    screenshot(sys.argv[1], Path(sys.argv[2]))
