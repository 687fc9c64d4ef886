"""Side information: item/user tables by role, encodings, vectors, and every mismatch counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from attnsight.data.side import SideSchema, SideTable, match_ids, read_side_table, read_vectors
from attnsight.errors import ConfigError, DataError

ITEMS = SideSchema("item", text=("title",), categorical=("brand",), tags=("genres",), numeric=("price",))


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_table_columns_by_role_and_repeats_counted(tmp_path: Path) -> None:
    path = _write(tmp_path / "items.csv", "item,title,brand,genres,price\n"
                  "a,Alien,fox,Sci-Fi|Horror,9.5\n"
                  "b,Babe,,Children's| Comedy ,\n"
                  "a,Alien again,x,Drama,1\n"
                  "c,Coco,y,Drama,nan\n")  # missing, as an empty value is
    table = read_side_table(path, ITEMS)
    assert table.ids == ["a", "b", "c"] and table.repeated == 1  # the second 'a' is dropped, and counted
    assert table.text["title"] == ["Alien", "Babe", "Coco"]
    assert table.categorical["brand"] == ["fox", "", "y"]
    assert table.tags["genres"] == [["Sci-Fi", "Horror"], ["Children's", "Comedy"], ["Drama"]]
    assert table.numeric["price"][0] == 9.5 and np.isnan(table.numeric["price"][1:]).all()


def test_movielens_dat_in_latin1(tmp_path: Path) -> None:
    path = _write(tmp_path / "movies.dat", "1::Toy Story (1995)::Animation|Comedy\n"
                  "73::Misérables, Les (1995)::Drama|Musical\n", "latin-1")
    table = read_side_table(path, SideSchema("item", text=("title",), tags=("genres",)))
    assert table.text["title"][1] == "Misérables, Les (1995)"  # decoded as Latin-1, not mangled
    assert table.tags["genres"][1] == ["Drama", "Musical"]
    with pytest.raises(DataError, match="not valid utf-8"):
        read_side_table(path, SideSchema("item", text=("title",)), encoding="utf-8")


def test_dat_needs_names_for_unknown_widths(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.dat", "1::a::b::c\n")
    with pytest.raises(DataError, match="4 fields per line; name them"):
        read_side_table(path, SideSchema("item"))
    table = read_side_table(path, SideSchema("item", categorical=("c",), names=("item", "a", "b", "c")))
    assert table.categorical["c"] == ["c"]
    ragged = _write(tmp_path / "y.dat", "1::Toy Story::Comedy\n2::Heat\n")
    with pytest.raises(DataError, match=r"line 2: expected 3 fields"):
        read_side_table(ragged, SideSchema("item"))


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "items.csv", "item,title,brand,genres,price\na,A,x,y,1\nb,B,x,y,cheap\n")
    with pytest.raises(DataError, match=r"items.csv, line 3, column 'price': not a number: 'cheap'"):
        read_side_table(path, ITEMS)
    with pytest.raises(DataError, match=r"no column 'year'"):
        read_side_table(path, SideSchema("item", numeric=("year",)))
    blank = _write(tmp_path / "blank.csv", "item,title\na,A\n,B\n")
    with pytest.raises(DataError, match=r"line 3, column 'item': empty id"):
        read_side_table(blank, SideSchema("item", text=("title",)))


def test_match_counts_unknown_and_missing() -> None:
    match = match_ids(["a", "b", "z"], ["b", "c", "a", "d"])
    assert match.rows.tolist() == [1, -1, 0, -1]
    assert (match.unknown, match.missing) == (1, 2)
    assert match.unknown_examples == ["z"] and match.missing_examples == ["c", "d"]
    assert match.as_dict()["matched"] == 2


def test_vectors_from_parquet_npz_and_npy(tmp_path: Path) -> None:
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    pl.DataFrame({"item": ["a", "b", "c"], "v": vectors.tolist()}).write_parquet(tmp_path / "v.parquet")
    pl.DataFrame({"item": ["a", "b", "c"], "d0": vectors[:, 0], "d1": vectors[:, 1]}).write_parquet(tmp_path / "w.parquet")
    np.savez(tmp_path / "v.npz", ids=np.array(["a", "b", "c"]), vectors=vectors)
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "v.ids.txt").write_text("a\nb\nc\n")
    for name in ("v.parquet", "w.parquet", "v.npz", "v.npy"):
        read = read_vectors(tmp_path / name, dim=2)
        assert read.ids == ["a", "b", "c"] and read.dim == 2, name
        np.testing.assert_array_equal(read.matrix, vectors)
    with pytest.raises(DataError, match="dimension 2, expected 3"):
        read_vectors(tmp_path / "v.npz", dim=3)
    np.save(tmp_path / "lonely.npy", vectors)
    with pytest.raises(DataError, match="lonely.ids.txt beside it"):
        read_vectors(tmp_path / "lonely.npy")
    np.savez(tmp_path / "bad.npz", ids=np.array(["a", "b"]), vectors=vectors)
    with pytest.raises(DataError, match="2 ids for 3 vectors"):
        read_vectors(tmp_path / "bad.npz")
    nan = vectors.copy()
    nan[1, 0] = np.nan
    np.savez(tmp_path / "nan.npz", ids=np.array(["a", "b", "c"]), vectors=nan)
    with pytest.raises(DataError, match="vector of id 'b' is not finite"):
        read_vectors(tmp_path / "nan.npz")


def test_display_info_takes_the_first_text_and_category() -> None:
    table = SideTable(["a", "b", "c"], SideSchema("item", text=("title", "plot"), tags=("genres",)),
                      text={"title": ["Alien", "", "Babe"], "plot": ["x", "y", "z"]},
                      tags={"genres": [["Sci-Fi", "Horror"], [], []]})
    assert table.display_info() == {"a": {"title": "Alien", "category": "Sci-Fi"}, "c": {"title": "Babe"}}


def test_numbers_the_model_cannot_read_are_refused(tmp_path: Path) -> None:
    schema = SideSchema("item", numeric=("price",))
    huge = _write(tmp_path / "huge.csv", "item,price\na,1\nb,1e308\n")
    with pytest.raises(DataError, match=r"huge.csv, line 3, column 'price': too large for a float32"):
        read_side_table(huge, schema)  # training's variance of it would overflow
    far = _write(tmp_path / "far.csv", "item,price\na,1\nb,1e20\n")
    assert read_side_table(far, schema).numeric["price"][1] == 1e20  # a float32: fine to train on
    with pytest.raises(DataError, match=r"far.csv, line 3, column 'price': more than 1e\+15 standard deviations"):
        read_side_table(far, schema, scale={"price": (3.0, 2.0)})  # but scaled by a trained model, it overflows
    assert read_side_table(far, schema, scale={"price": (0.0, 1e6)}).numeric["price"][1] == 1e20


def test_a_column_takes_one_role() -> None:
    with pytest.raises(ConfigError, match="column 'title' is named as text and as categorical: each column takes one"):
        SideSchema("item", text=("title",), categorical=("title",))
    with pytest.raises(ConfigError, match="column 'item' is named as the id and as numeric"):
        SideSchema("item", numeric=("item",))
    assert SideSchema("item", text=("title",), tags=("genres",)).columns() == ["title", "genres"]


def test_a_table_built_by_hand_is_checked_against_its_schema() -> None:
    schema = SideSchema("item", text=("title",))
    with pytest.raises(DataError, match="text column 'title' has 1 values for 2 ids"):
        SideTable(["a", "b"], schema, text={"title": ["x"]})
    with pytest.raises(DataError, match="no text column 'title', which the schema names"):
        SideTable(["a", "b"], schema)
