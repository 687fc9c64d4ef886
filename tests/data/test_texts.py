"""read_texts, clean_text(s) and stratified_split: formats, exact labels, errors that say where,
cleaning counts computed by hand, and a seeded stratified split."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from attnsight.data.texts import (
    TextCleaningConfig,
    TextCleaningReport,
    Texts,
    clean_text,
    clean_texts,
    look_alike_labels,
    read_texts,
    stratified_split,
    word_spans,
)
from attnsight.errors import AttnsightError, DataError


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def raises_data_error(path: Path, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        read_texts(path, **kwargs)
    assert isinstance(info.value, AttnsightError)
    assert str(path) in str(info.value)  # every message names the file
    assert "\n" not in str(info.value)  # one line
    return info.value


# ----------------------------------------------------------------------------- formats

EXPECTED = [{"text": "good room", "label": "1"}, {"text": "rude, staff", "label": "0"}]


def rows(texts: Texts) -> list[dict]:
    return texts.frame.select("text", "label").to_dicts()


def test_csv_named_columns_integer_labels_stay_strings(tmp_path):
    path = write(tmp_path / "reviews.csv", 'id,review,stars\n1,good room,1\n2,"rude, staff",0\n')
    texts = read_texts(path, text_col="review", label_col="stars")
    assert rows(texts) == EXPECTED and texts.lines == [2, 3]
    assert texts.frame.schema == {"text": pl.String, "line": pl.Int64, "label": pl.String}
    assert texts.labels == ["1", "0"] and texts.texts == ["good room", "rude, staff"]
    assert texts.has_labels and len(texts) == 2 and texts.source == str(path)


def test_tsv(tmp_path):
    path = write(tmp_path / "reviews.tsv", "review\tstars\ngood room\t1\nrude, staff\t0\n")
    assert rows(read_texts(path, text_col="review", label_col="stars")) == EXPECTED


def test_jsonl_integer_labels_stay_strings(tmp_path):
    content = '{"review": "good room", "stars": 1}\n\n{"review": "rude, staff", "stars": 0}\n'
    texts = read_texts(write(tmp_path / "reviews.jsonl", content), text_col="review", label_col="stars")
    assert rows(texts) == EXPECTED and texts.lines == [1, 3]  # the blank line is skipped, not renumbered


def test_parquet_integer_labels_stay_strings(tmp_path):
    path = tmp_path / "reviews.parquet"
    pl.DataFrame({"review": ["good room", "rude, staff"], "stars": [1, 0]}).write_parquet(path)
    texts = read_texts(path, text_col="review", label_col="stars")
    assert rows(texts) == EXPECTED and texts.lines == [1, 2]  # data rows: Parquet has no lines
    assert texts.frame.schema["label"] == pl.String


def test_gzipped_csv(tmp_path):
    path = write(tmp_path / "reviews.csv.gz", gzip.compress('review,stars\ngood room,1\n"rude, staff",0\n'.encode()))
    assert rows(read_texts(path, text_col="review", label_col="stars")) == EXPECTED


def test_labels_are_optional_and_label_whitespace_is_stripped(tmp_path):
    path = write(tmp_path / "t.csv", "text,label\nhello, pos \n")
    assert read_texts(path).labels == ["pos"]
    unlabelled = read_texts(write(tmp_path / "u.csv", "text\nhello\nworld\n"))
    assert not unlabelled.has_labels and unlabelled.texts == ["hello", "world"]
    assert not read_texts(path, label_col=None).has_labels


def test_missing_text_column_names_file_and_columns(tmp_path):
    path = write(tmp_path / "reviews.csv", "review,stars\ngood,1\n")
    error = raises_data_error(path)
    assert "'text'" in str(error) and "review, stars" in str(error) and "--text-col" in str(error)


def test_missing_label_column_when_required(tmp_path):
    path = write(tmp_path / "reviews.csv", "text,stars\ngood,1\n")
    error = raises_data_error(path, require_labels=True)
    assert "'label'" in str(error) and "text, stars" in str(error) and "--label-col" in str(error)


def test_empty_label_names_line_and_column(tmp_path):
    path = write(tmp_path / "reviews.csv", "text,label\ngood,1\nbad,\nok,0\n")
    error = raises_data_error(path, require_labels=True)
    assert (error.line, error.column) == (3, "label")
    assert "line 3" in str(error) and "column 'label'" in str(error) and "empty label" in str(error)
    # a blank-only label is empty too; blank lines before it are counted
    path = write(tmp_path / "blank.csv", "text,label\ngood,1\n\nbad,  \n")
    assert raises_data_error(path, require_labels=True).line == 4
    # without require_labels the empty label is kept as it is (null)
    assert read_texts(tmp_path / "reviews.csv").labels == ["1", None, "0"]


def test_empty_file(tmp_path):
    error = raises_data_error(write(tmp_path / "empty.csv", ""))
    assert "empty" in str(error)
    error = raises_data_error(write(tmp_path / "header.csv", "text,label\n"))
    assert "no rows" in str(error)


def test_bad_encoding_names_the_line(tmp_path):
    path = write(tmp_path / "latin.csv", "text,label\ngood,1\n".encode() + "café,0\n".encode("latin-1"))
    error = raises_data_error(path)
    assert error.line == 3 and "line 3" in str(error)
    assert "utf-8" in str(error) and "0xe9" in str(error)
    assert read_texts(path, encoding="latin-1").texts == ["good", "café"]


def test_utf8_read_as_utf16_is_named_not_read_as_one_line(tmp_path):
    path = write(tmp_path / "t.csv", "text,label\ngood,1\nbad,0\n")
    error = raises_data_error(path, encoding="utf-16")
    assert error.message == "not utf-16: the file's 3 line breaks read as none; give the file's encoding (--encoding)"
    path.write_text("text,label\ngood,1\nbad,0\n", encoding="utf-16")  # the real thing reads
    assert read_texts(path, encoding="utf-16").texts == ["good", "bad"]


def test_an_unclosed_quote_is_named_by_the_line_it_opens(tmp_path):
    error = raises_data_error(write(tmp_path / "t.csv", 'text,label\nok,1\n"good room,1\nbad,0\nfine,1\n'))
    assert error.line == 3 and "cannot parse as csv" in error.message


def test_lines_ended_by_carriage_returns_alone_are_lines(tmp_path):
    texts = read_texts(write(tmp_path / "mac.csv", "text,label\rgood room,positive\r\rbad room,negative\r"))
    assert texts.texts == ["good room", "bad room"] and texts.labels == ["positive", "negative"]
    assert texts.lines == [2, 4]


@pytest.mark.parametrize("name, sep", [("t.csv", ","), ("t.tsv", "\t")])
def test_a_quote_inside_an_unquoted_field_is_a_character(tmp_path, name, sep):
    texts = read_texts(write(tmp_path / name, f'text{sep}label\nit is 5" tall{sep}1\n"a, b"{sep}0\n\nok{sep}1\n'))
    assert texts.texts == ['it is 5" tall', "a, b", "ok"] and texts.labels == ["1", "0", "1"]
    assert texts.lines == [2, 3, 5]
    # a record with a field too many is still refused, by its line
    error = raises_data_error(write(tmp_path / name, f'text{sep}label\nok{sep}1\n5" tall{sep}1{sep}x\n'))
    assert error.line == 3


def test_look_alike_labels_by_case_spacing_and_number_form():
    labels = ["1", "1.0", "0", "Positive", "positive", "neg  ok", "neg ok", "negative", "1", "2"]
    assert look_alike_labels(labels) == [["1", "1.0"], ["Positive", "positive"], ["neg  ok", "neg ok"]]
    assert look_alike_labels(["0", "1", "pos"]) == []


def test_missing_file_and_unknown_format(tmp_path):
    assert "no such file" in str(raises_data_error(tmp_path / "nope.csv"))
    path = write(tmp_path / "t.csv", "text\nx\n")
    assert "unknown format" in str(raises_data_error(path, format="xml"))


def test_from_lists_checks_lengths():
    texts = Texts.from_lists(["a", "b"], [1, 0])
    assert texts.labels == ["1", "0"]
    with pytest.raises(DataError, match="2 texts but 1 labels"):
        Texts.from_lists(["a", "b"], ["x"])


# ----------------------------------------------------------------------------- cleaning one text


def test_clean_text_html_urls_bom_nfkc_whitespace():
    assert clean_text("Great room!<br />Would stay again.") == "Great room! Would stay again."
    assert clean_text("Tom &amp; Jerry &lt;3") == "Tom & Jerry <3"
    # only what HTML reads as a tag, comment or doctype goes; a "<" before a digit or space is text
    assert clean_text("I <3 this hotel, 5 stars > 3 stars") == "I <3 this hotel, 5 stars > 3 stars"
    assert clean_text("price < 100 but rating > 4") == "price < 100 but rating > 4"
    assert clean_text('<p class="x">hi</p><!-- a\nnote -->there<!DOCTYPE html>') == "hi there"
    assert clean_text("see https://example.com/a?b=1 and www.hotel.com now") == "see and now"
    # a URL is ASCII: the Chinese text right after one stays, as does the punctuation that ends a sentence
    assert clean_text("推荐这个酒店http://t.cn/abc很不错，下次还来") == "推荐这个酒店 很不错,下次还来"
    assert clean_text("(see www.x.com/a_b).") == "(see )."
    assert clean_text("\ufeffhello") == "hello"
    assert clean_text("ＡＢＣ１") == "ABC1"
    assert clean_text("  a \t b\n\nc  ") == "a b c"


def test_clean_text_counts_into_the_report():
    report = TextCleaningReport()
    clean_text("\ufeff<b>x</b> http://a.b", report=report)
    assert (report.bom_removed, report.html_cleaned, report.urls_removed, report.normalized) == (1, 1, 1, 0)


def test_clean_text_options_off():
    config = TextCleaningConfig(html=False, urls=False, normalize=None)
    assert clean_text("<b>ＡＢ</b> www.x.com", config) == "<b>ＡＢ</b> www.x.com"


# ----------------------------------------------------------------------------- cleaning a table

TABLE = [
    ("Great room<br />really", "pos"),  # 0 html tag
    ("Tom &amp; Jerry", "pos"),  # 1 html entity; conflicts with row 8 after cleaning
    ("see http://x.com/a now", "neg"),  # 2 url
    ("\ufeffhello", "pos"),  # 3 BOM
    ("ＡＢＣ１", "pos"),  # 4 full-width, NFKC
    ("   ", "neg"),  # 5 empty
    ("<br />", "neg"),  # 6 html, then empty
    ("hello", "pos"),  # 7 duplicate of row 3 (same label)
    ("Tom & Jerry", "neg"),  # 8 same text as row 1, other label
    ("www.example.com", "pos"),  # 9 url, then empty
    ("good   stay\n\tok", "neg"),  # 10 whitespace
]


def table() -> Texts:
    return Texts.from_lists([t for t, _ in TABLE], [label for _, label in TABLE], source="hand.csv")


def test_clean_texts_report_counts_by_hand():
    out, report = clean_texts(table())
    assert report == TextCleaningReport(
        rows_in=11, html_cleaned=3, urls_removed=2, bom_removed=1, normalized=1,
        empty=3, duplicates=1, conflicting_labels=2, rows_out=5,
    )
    assert report.as_dict()["conflicting_labels"] == 2
    assert list(out.frame.iter_rows()) == [
        ("Great room really", "pos"), ("see now", "neg"), ("hello", "pos"), ("ABC1", "pos"), ("good stay ok", "neg"),
    ]
    assert out.source == "hand.csv"


def test_conflicting_labels_drop_every_copy():
    texts = Texts.from_lists(["a", "b", "a", "a", "c"], ["x", "y", "x", "z", "y"])
    out, report = clean_texts(texts)
    assert out.texts == ["b", "c"]
    assert report.conflicting_labels == 3 and report.duplicates == 0


def test_unlabelled_texts_are_deduplicated_by_text():
    out, report = clean_texts(Texts.from_lists(["a", "b", "a"]))
    assert out.texts == ["a", "b"] and report.duplicates == 1 and report.conflicting_labels == 0


def test_drop_false_keeps_every_row():
    out, report = clean_texts(table(), drop=False)
    assert len(out) == 11
    assert out.texts[5] == "" and out.texts[9] == "" and out.texts[1] == out.texts[8] == "Tom & Jerry"
    assert out.labels == [label for _, label in TABLE]
    assert (report.empty, report.duplicates, report.conflicting_labels, report.rows_out) == (0, 0, 0, 11)
    assert report.html_cleaned == 3  # cleaning still happens


def test_dedupe_off_and_min_chars():
    out, report = clean_texts(Texts.from_lists(["ab", "ab", "a"], ["x", "y", "x"]),
                              TextCleaningConfig(dedupe=False, min_chars=2))
    assert out.texts == ["ab", "ab"] and report.empty == 1 and report.duplicates == 0


def test_labels_of_unicode_digits_are_labels_not_numbers():
    from attnsight.classifier import label_set

    assert label_set(Texts.from_lists(["a", "b", "c"], ["②", "①", "②"])) == ["①", "②"]
    assert label_set(Texts.from_lists(["a", "b", "c"], ["10", "-1", "9"])) == ["-1", "9", "10"]  # numbers: by value


def test_nothing_left_is_an_error():
    with pytest.raises(DataError, match="no texts left"):
        clean_texts(Texts.from_lists(["  ", "<p></p>"], ["a", "b"], source="blank.csv"))


# ----------------------------------------------------------------------------- stratified split

LABELS = ["a"] * 70 + ["b"] * 30


def test_stratified_split_is_seeded_disjoint_and_complete():
    train, valid, test = stratified_split(LABELS, (0.2, 0.2), seed=7)
    again = stratified_split(LABELS, (0.2, 0.2), seed=7)
    assert all(np.array_equal(x, y) for x, y in zip((train, valid, test), again))
    other = stratified_split(LABELS, (0.2, 0.2), seed=8)
    assert not np.array_equal(test, other[2])
    everything = np.concatenate([train, valid, test])
    assert sorted(everything.tolist()) == list(range(100))  # disjoint and covering
    assert (len(train), len(valid), len(test)) == (60, 20, 20)


def test_stratified_split_keeps_class_proportions():
    y = np.array(LABELS)
    for part, size in zip(stratified_split(LABELS, (0.2, 0.2), seed=3), (60, 20, 20)):
        counts = Counter(y[part].tolist())
        assert counts["b"] == pytest.approx(0.3 * size, abs=1), counts
        assert counts["a"] + counts["b"] == size


def test_stratified_split_without_test_share():
    train, valid, test = stratified_split(LABELS, (0.1, 0.0), seed=0)
    assert len(test) == 0 and len(valid) == 10 and len(train) == 90
    assert Counter(np.array(LABELS)[valid].tolist()) == {"a": 7, "b": 3}


def test_stratified_split_of_a_class_too_rare_to_split_names_it():
    with pytest.raises(AttnsightError, match=r"the rarest class, 'mid', has 1\)"):
        stratified_split(LABELS + ["mid"], (0.1, 0.1), seed=0)
    with pytest.raises(AttnsightError, match=r"4 texts cannot be split stratified into validation and test shares "
                                             r"of 0\.1 and 0\.1"):
        stratified_split(["a", "b", "a", "b"], (0.1, 0.1), seed=0)  # one test text for two classes
    # two texts of a class among 200: scikit-learn splits them, but its rounding gives the shares none
    rare = ["a"] * 99 + ["b"] * 99 + ["rare"] * 2
    with pytest.raises(AttnsightError, match=r"^class 'rare' has 2 texts, too few for the stratified split to put "
                                             r"one in the validation share \(0\.1\)"):
        stratified_split(rare, (0.1, 0.1), seed=0)
    with pytest.raises(AttnsightError, match=r"one in the test share \(0\.1\)"):
        stratified_split(rare, (0.0, 0.1), seed=0)


def test_long_chinese_texts_are_segmented_as_a_whole_and_in_bounded_time():
    import jieba

    review = "房间很干净，早餐很好吃。服务员态度一般！" * 300  # 6,000 characters: segmented in pieces
    whole = [(s, e) for _, s, e in jieba.tokenize(review) if review[s:e].strip()]
    assert word_spans(review) == whole  # the pieces end at sentence ends: no word is cut
    spans = word_spans("很" * 20_000)  # one run of 20,000: about 4 s unsplit, in jieba's quadratic HMM pass
    assert spans[0][0] == 0 and spans[-1][1] == 20_000 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_token_words_maps_pieces_and_characters_to_their_word():
    from attnsight.data.texts import token_words, word_spans

    spans = word_spans("unbelievable views!")  # [(0, 12), (13, 18), (18, 19)]
    offsets = [(0, 0), (0, 2), (2, 7), (7, 12), (13, 18), (18, 19), (0, 0)]  # [CLS] un ##believ ##able views ! [SEP]
    assert token_words(spans, offsets).tolist() == [-1, 0, 0, 0, 1, 2, -1]
    text = "早餐难吃"
    spans = word_spans(text)
    ids = token_words(spans, [(0, 0), (0, 1), (1, 2), (2, 3), (3, 4), (0, 0)]).tolist()
    assert ids[0] == ids[-1] == -1 and ids[1:-1] == sorted(ids[1:-1]) and len(set(ids[1:-1])) == len(spans)
