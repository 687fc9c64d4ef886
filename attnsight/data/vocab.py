"""Raw ids ↔ contiguous indices, with padding at 0 and a [MASK] after the last id."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from attnsight.files import write_text_atomic


class Vocabulary:
    """Index 0 is padding, ids take 1..n in the order given, index n + 1 is [MASK]."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.ids: list[str] = list(ids)
        self._index = {raw: i for i, raw in enumerate(self.ids, start=1)}
        if len(self._index) != len(self.ids):
            raise ValueError("vocabulary ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, raw: object) -> bool:
        return str(raw) in self._index

    @property
    def mask_index(self) -> int:
        return len(self.ids) + 1

    def index(self, raw: object) -> int | None:
        return self._index.get(str(raw))

    def encode(self, raws: Sequence[object]) -> np.ndarray:
        """Indices of known ids; unknown ids map to 0 (padding) for the caller to drop or count."""
        return np.fromiter((self._index.get(str(r), 0) for r in raws), dtype=np.int64, count=len(raws))

    def decode(self, indices: Iterable[int]) -> list[str]:
        return [self.ids[i - 1] for i in indices]

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.ids, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))
