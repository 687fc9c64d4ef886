"""The report over a recommender, a text classifier and a risk scorer: one self-contained page with
every section, figures inline, user text escaped; and the errors that stop it before any model loads."""

from __future__ import annotations

import json
import re
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from attnsight.errors import AttnsightError, DataError
from attnsight.report import build_report, make_report, write_report
from attnsight.report.bundles import Bundle, match_data

COMMON = ("Data and cleaning", "Training curves", "Metrics beside baselines")
PARTS = {
    "recsys": (*COMMON, "Recommendations and the history that drove them", "Audience segments"),
    "text": (*COMMON, "Example explanations", "Attended words per class"),
    "risk": (*COMMON, "Top-risk events and their evidence"),
}
FIGURES = {"recsys": 6, "text": 3, "risk": 3}  # at least: curves, bars, + 3 heatmaps and the map | words | scores


class Page(HTMLParser):
    """What a browser would load and show: tags, the attributes that fetch resources, the headings of
    each top-level section, figures and the inline SVG inside them, and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[str] = []  # src / href / xlink:href values
        self.sections: list[dict] = []  # per <h2> section: its title, <h3> parts, figures and SVGs
        self.text: list[str] = []
        self._heading: str | None = None
        self._figure = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value or "" for name, value in attrs if name in ("src", "href", "xlink:href")]
        if tag in ("h2", "h3"):
            self._heading = tag
            if tag == "h2":
                self.sections.append({"title": "", "parts": [], "figures": 0, "svgs": 0})
            else:
                self.sections[-1]["parts"].append("")
        elif tag == "figure":
            self.sections[-1]["figures"] += 1
            self._figure = True
        elif tag == "svg" and self._figure:
            self.sections[-1]["svgs"] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h2", "h3"):
            self._heading = None
        elif tag == "figure":
            self._figure = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading == "h2":
            self.sections[-1]["title"] += data
        elif self._heading == "h3":
            self.sections[-1]["parts"][-1] += data


@pytest.fixture(scope="module")
def page(report) -> Page:
    return Page(report.html)


def test_one_section_per_bundle_with_every_part(report, page, bundles):
    sections = [s for s in page.sections if s["title"] != "Contents"]
    names = ("Sequential recommender", "Text classifier", "Risk scorer")
    assert [s["title"] for s in sections] == [f"{name}: {path}" for name, path in zip(names, bundles)]
    for section, task in zip(sections, ("recsys", "text", "risk")):
        assert section["parts"] == list(PARTS[task]), section["title"]
        assert section["svgs"] == section["figures"] >= FIGURES[task], section  # every figure is an inline SVG
    assert [b.task for b in report.bundles] == ["recsys", "text", "risk"]


def test_each_bundle_reads_the_data_file_with_its_columns(report, reviews_csv, transactions_csv):
    assert [b.data for b in report.bundles] == [None, reviews_csv, transactions_csv]
    text = " ".join(Page(report.html).text)
    assert "texts of reviews.csv" in text and "events of transactions.csv scored" in text


def test_the_page_is_self_contained(report, page):
    html = report.html
    assert html.startswith("<!doctype html>") and html.count("<html") == 1 and html.rstrip().endswith("</html>")
    assert {"script", "link", "iframe", "object", "embed"}.isdisjoint(page.tags)
    assert page.links and all(link.startswith(("#", "data:")) for link in page.links), \
        [link[:40] for link in page.links if not link.startswith(("#", "data:"))]
    assert "@import" not in html
    assert all(target.startswith("#") for target in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html))  # clip paths
    anchors = {link[1:] for link in page.links if link.startswith("#")}
    assert all(f'id="{anchor}"' in html for anchor in anchors)  # the contents' links all land
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1][:5]  # each figure its own ids
    assert all(f'id="{target}"' in html for target in re.findall(r"url\(#([^)]+)\)", html))  # clip paths land


def test_user_and_model_text_is_escaped(report, page, hidden_markup):
    html = report.html
    assert "<script" not in html.lower()
    assert html_escape(hidden_markup, quote=False) in html  # item titles, in tables and figures
    text = "".join(page.text)
    assert text.count(hidden_markup) >= 3  # shown as text: recommended items and the review explained
    assert f"{hidden_markup} the room was dirty" in text


def test_without_data_the_text_and_risk_parts_say_what_they_need(text_bundle, risk_bundle):
    page = Page(build_report([text_bundle, risk_bundle]))
    text = " ".join(page.text)
    assert text.count("(--data") >= 2 and "a 'text' column" in text and "customer, timestamp" in text
    assert [s["parts"] for s in page.sections[1:]] == [list(PARTS["text"]), list(PARTS["risk"])]


def test_write_report_writes_the_same_page_each_time(recsys_bundle, tmp_path):
    out = write_report([recsys_bundle], tmp_path / "new" / "report.html")
    assert out == tmp_path / "new" / "report.html"
    assert out.read_text(encoding="utf-8") == build_report([recsys_bundle])  # deterministic: no dates, no random ids
    # one bundle by itself, as a text path, is that bundle rather than a list of its characters
    assert build_report(str(recsys_bundle)) == build_report([recsys_bundle])
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind


@pytest.mark.parametrize(("models", "data", "error", "fragment"), [
    ([], [], AttnsightError, "at least one --model"),
    (["missing"], [], AttnsightError, "no such bundle folder"),
    (["empty"], [], AttnsightError, "config.json"),
    (["recsys"], ["missing.csv"], DataError, "no such file"),
    (["recsys", "text"], ["other.csv"], DataError, "fits none of the bundles"),
])
def test_errors_name_what_is_wrong(root, recsys_bundle, text_bundle, tmp_path, models, data, error, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    places = {"recsys": recsys_bundle, "text": text_bundle}
    with pytest.raises(error, match=fragment):
        make_report([places.get(m, tmp_path / m) for m in models], data=[tmp_path / d for d in data])


def test_each_data_file_goes_to_the_next_bundle_that_reads_it(tmp_path: Path):
    english, chinese, events = tmp_path / "en.csv", tmp_path / "zh.csv", tmp_path / "events.csv"
    english.write_text("text\ngood\n")
    chinese.write_text("text,label\n好,pos\n")
    events.write_text("account,timestamp,amount\nA,1,2.0\n")
    risk_config = {"schema": {"account": "account", "time": "timestamp", "numeric": ["amount"], "categorical": []}}

    def bundles() -> list[Bundle]:
        return [Bundle(tmp_path / "rec", "recsys", {}), Bundle(tmp_path / "a", "text", {}),
                Bundle(tmp_path / "b", "text", {}), Bundle(tmp_path / "r", "risk", risk_config)]

    two = bundles()
    match_data(two, [events, english, chinese])  # two text files: the text bundles take them in turn
    assert [b.data for b in two] == [None, english, chinese, events]
    one = bundles()
    match_data(one, [english])  # one text file: it serves both
    assert [b.data for b in one] == [None, english, english, None]
    with pytest.raises(DataError, match=r"en\.csv: every bundle it fits \(a, b\) reads another --data file"):
        match_data(bundles(), [english, chinese, english])  # a third text file would be read by nothing
    # a file that fits both a text and the risk bundle, given first, does not take the text bundle
    # that a later file alone fits: the order of --data does not matter
    both = tmp_path / "both.csv"
    both.write_text("account,timestamp,amount,text\nA,1,2.0,fine\n")
    text_and_risk = [Bundle(tmp_path / "a", "text", {}), Bundle(tmp_path / "r", "risk", risk_config)]
    match_data(text_and_risk, [both, english])
    assert [b.data for b in text_and_risk] == [english, both]


def test_a_folder_is_no_report_file(report, tmp_path: Path):
    with pytest.raises(AttnsightError, match="is a folder"):
        report.write(tmp_path)
    data = tmp_path / "reviews.csv"
    data.write_text("text\ngood\n")
    with pytest.raises(AttnsightError, match=r"reviews\.csv: the page written there is HTML; give a \.html file name"):
        report.write(data)  # a data file given as --out by mistake stays as it was
    assert data.read_text() == "text\ngood\n"


def test_a_user_with_every_item_gets_a_note_not_an_empty_table(tmp_path: Path):
    from attnsight import SequentialRecommender
    from attnsight.data.readers import Interactions

    rec = SequentialRecommender(max_len=5, dim=8, num_layers=1, num_heads=1, epochs=1, device="cpu")
    rec.fit(Interactions.from_records(["u1"] * 4, ["a", "b", "c", "d"]))
    rec.save_pretrained(tmp_path / "one")
    text = " ".join(Page(build_report([tmp_path / "one"])).text)
    assert "Nothing left to recommend to user u1: they have every item." in text
    assert "Recommendations for user u1" not in text  # no empty table, no empty heatmap


def test_an_undefined_metric_is_null_in_metrics_json_and_a_dash_in_the_report(risk_bundle, transactions_csv,
                                                                              tmp_path: Path):
    from attnsight import RiskScorer

    scorer = RiskScorer.from_pretrained(risk_bundle, device="cpu")
    # what days without positives give: ROC AUC undefined on test and for an epoch's validation
    scorer.metrics_["test"]["roc_auc"] = float("nan")
    scorer.metrics_["history"]["train"][0]["valid_roc_auc"] = float("nan")
    scorer.save_pretrained(tmp_path / "risk")

    def refuse(constant: str) -> None:
        raise AssertionError(f"metrics.json holds {constant}, which strict JSON readers refuse")

    metrics = json.loads((tmp_path / "risk" / "metrics.json").read_text(), parse_constant=refuse)
    assert metrics["test"]["roc_auc"] is None and metrics["test"]["average_precision"] is not None
    page = Page(build_report([tmp_path / "risk"], data=[transactions_csv]))
    text = " ".join(page.text)
    assert "Metrics beside baselines" in text and "—" in text
