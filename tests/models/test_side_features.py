"""Side features: encoding by a fitted FeatureSpace, attention fusion, and SASRec over fused items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from attnsight.data.features import FeatureSpace
from attnsight.data.side import SideSchema, SideTable, Vectors
from attnsight.models.sasrec import SASRec, SASRecConfig
from attnsight.models.side import FeatureConfig, FeatureEncoder
from attnsight.nn.fusion import AttentionFusion

SCHEMA = SideSchema("item", text=("title",), categorical=("brand",), tags=("genres",), numeric=("price",))


def _table() -> SideTable:
    return SideTable(
        ["a", "b", "c"], SCHEMA,
        text={"title": ["Alien", "Babe pig", ""]},
        categorical={"brand": ["fox", "", "fox"]},
        tags={"genres": [["Sci-Fi", "Horror"], ["Comedy"], []]},
        numeric={"price": np.array([10.0, np.nan, 20.0])},
    )


def test_feature_space_encodes_rows_by_the_fitted_vocabularies(tmp_path: Path) -> None:
    vectors = Vectors(["a", "c"], np.array([[1, 2], [3, 4]], dtype=np.float32), "v")
    space = FeatureSpace.fit(_table(), vectors, text_len=8)
    assert space.categories == {"brand": ["fox"]} and space.tags == ["Comedy", "Horror", "Sci-Fi"]
    assert space.tag_slots == 2 and space.token_names == ["brand", "genres", "genres", "price", "title", "vector"]
    arrays = space.transform(_table(), ["c", "a", "new"], vectors)
    assert arrays.categorical[:, 0].tolist() == [1, 1, 0]  # fox = 1; no row = 0
    assert arrays.tags.tolist() == [[0, 0], [3, 2], [0, 0]]  # Sci-Fi = 3, Horror = 2 (sorted, 1-based)
    # price standardised by the fitted mean 15 and std 5; missing where absent
    assert arrays.numeric[:, 0].tolist() == [1.0, -1.0, 0.0] and arrays.numeric_present[:, 0].tolist() == [True, True, False]
    assert (arrays.text[1] > 0).any() and not arrays.text[0].any() and not arrays.text[2].any()  # c's title is empty
    assert arrays.vector.tolist() == [[3, 4], [1, 2], [0, 0]] and arrays.vector_present.tolist() == [True, True, False]
    space.save(tmp_path, "item")
    again = FeatureSpace.load(tmp_path, "item").transform(_table(), ["c", "a", "new"], vectors)
    for name in ("categorical", "tags", "numeric", "text", "vector"):
        np.testing.assert_array_equal(getattr(again, name), getattr(arrays, name))


def test_fusion_weights_cover_only_valid_tokens() -> None:
    torch.manual_seed(0)
    fusion = AttentionFusion(8, num_heads=2)
    torch.nn.init.normal_(fusion.query)
    tokens = torch.randn(2, 3, 8)
    valid = torch.tensor([[True, False, True], [False, True, False]])
    fused, weights = fusion(tokens, valid)
    assert fused.shape == (2, 8)
    assert weights[0, 1] == 0 and weights[1].tolist() == [0.0, 1.0, 0.0]
    assert torch.allclose(weights.sum(1), torch.ones(2))
    # an invalid token does not change the result, whatever it holds
    changed = tokens.clone()
    changed[0, 1] = 100.0
    assert torch.allclose(fusion(changed, valid)[0], fused)
    with pytest.raises(ValueError, match="at least one valid"):
        fusion(tokens, torch.zeros(2, 3, dtype=torch.bool))


def test_items_without_ids_are_represented_from_their_features() -> None:
    torch.manual_seed(0)
    space = FeatureSpace.fit(_table(), text_len=8)
    arrays = space.transform(_table(), ["a", "b", "c"])
    config = SASRecConfig(num_items=3, max_len=4, dim=8, num_layers=1, num_heads=2, ffn_dim=16, dropout=0.0,
                          item_features=space.sizes())
    model = SASRec(config)
    padded = arrays.concat([space.transform(None, [""]), arrays, space.transform(None, [""])])  # padding, a b c, [MASK]
    model.item_features.set_features(padded)
    model.has_id[3] = False  # c was never seen in training
    model.eval()
    table = model.item_table()
    _, weights = model.fuse_items()
    assert table.shape == (5, 8) and weights[3, 0] == 0  # c's id token takes no attention
    # c's vector does not depend on its (untrained) id embedding; a's does
    with torch.no_grad():
        model.item_embedding.weight[1:4] += 1.0
    moved = model.item_table()
    assert torch.allclose(moved[3], table[3]) and not torch.allclose(moved[1], table[1])
    # prediction fuses only the items in the histories: the same numbers as through the whole table
    items = torch.tensor([[0, 1, 3], [2, 2, 1]])
    with torch.no_grad():
        whole = model(items, targets=torch.tensor([[0, 3, 2], [2, 1, 3]])).hidden
        assert torch.allclose(model(items).hidden, whole, atol=1e-6)
    # the whole model trains through the fused table
    model.train()
    out = model(torch.tensor([[0, 1, 2]]), targets=torch.tensor([[0, 2, 3]]))
    out.loss.backward()
    assert model.item_features.tag_embedding.weight.grad.abs().sum() > 0


def test_feature_buffers_are_checked() -> None:
    encoder = FeatureEncoder(FeatureConfig(rows=2, categorical=[3]), dim=8)
    space = FeatureSpace.fit(_table(), text_len=8)
    with pytest.raises(ValueError, match="feature categorical: shape"):
        encoder.set_features(space.transform(_table(), ["a", "b", "c"]))
