"""WordPiece tokenization with Hugging Face `tokenizers`: trained on the user's corpus, or loaded.

The normalizer and pre-tokenizer are BERT's: CJK characters become one token each, so Chinese
needs no segmenter to be modelled (jieba is used only to name words in insights).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attnsight.errors import last_line
from attnsight.files import write_atomic

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS = (PAD, UNK, CLS, SEP, MASK)
TOKENIZER_FILE = "tokenizer.json"
ENCODE_CHUNK = 4096  # texts per call into the tokenizers library (see _encode_batch)
TRUNCATIONS = ("head", "head+tail")


@dataclass
class Encoding:
    """One text as token ids (with [CLS] ... [SEP]) and each token's character span in the text."""

    ids: np.ndarray  # int64 (T,)
    tokens: list[str]
    offsets: list[tuple[int, int]]  # (0, 0) for special tokens
    truncated: bool = False  # the text had more tokens than max_len: some were not kept


class TextTokenizer:
    """A WordPiece tokenizer with BERT's special tokens, truncating to `max_len` tokens.

    truncation "head" keeps a long text's first tokens; "head+tail" fills a quarter of the room
    from its start and the rest from its end, as Sun et al. (2019, "How to Fine-Tune BERT for Text
    Classification") found best for long reviews, whose verdict is often at the end.
    """

    def __init__(self, tokenizer: object, max_len: int, truncation: str = "head") -> None:
        from tokenizers import Tokenizer

        if not isinstance(tokenizer, Tokenizer):
            raise TypeError("expected a tokenizers.Tokenizer")
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.truncation = truncation
        self.max_len = max_len
        missing = [s for s in SPECIALS if tokenizer.token_to_id(s) is None]
        if missing:
            raise ValueError(f"tokenizer lacks the special tokens {', '.join(missing)}")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            int(tokenizer.token_to_id(s)) for s in SPECIALS
        )

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 8000,
        min_frequency: int = 2,
        lowercase: bool = True,
        max_len: int = 128,
    ) -> TextTokenizer:
        """Learn a WordPiece vocabulary of at most `vocab_size` tokens from `texts`."""
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        texts = list(texts)
        # The trainer numbers the "##x" continuation pieces in hash-map order, and those numbers
        # break ties between equally frequent merges, so two runs can learn different vocabularies
        # (huggingface/tokenizers#1794). Seeding every "##x" up front, in sorted order, makes
        # training deterministic; they are then turned back into ordinary vocabulary entries.
        inner = {ch for text in texts for word, _ in tok.pre_tokenizer.pre_tokenize_str(
            tok.normalizer.normalize_str(text)) for ch in word[1:]}
        seeded = [*SPECIALS, *(f"##{ch}" for ch in sorted(inner))]
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=seeded, show_progress=False
        )
        tok.train_from_iterator(texts, trainer=trainer)
        state = json.loads(tok.to_str())
        state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] in SPECIALS]
        tok = Tokenizer.from_str(json.dumps(state))
        cls_id, sep_id = tok.token_to_id(CLS), tok.token_to_id(SEP)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B:1 {SEP}:1", special_tokens=[(CLS, cls_id), (SEP, sep_id)]
        )
        return cls(tok, max_len)

    @classmethod
    def from_file(cls, path: str | Path, max_len: int, truncation: str = "head") -> TextTokenizer:
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_file(str(path)), max_len, truncation)
        except Exception as exc:  # the library's own errors name neither the file nor a type to catch
            raise ValueError(f"{path}: not a readable tokenizer ({last_line(exc)})") from None

    def save(self, path: str | Path) -> None:
        write_atomic(path, lambda tmp: self.tokenizer.save(str(tmp)))

    @property
    def max_len(self) -> int:
        """Tokens per text, [CLS] and [SEP] included; setting it truncates every later encoding there."""
        return self._max_len

    @max_len.setter
    def max_len(self, value: int) -> None:
        self._max_len = value
        self.tokenizer.enable_truncation(value)

    @property
    def truncation(self) -> str:
        return self._truncation

    @truncation.setter
    def truncation(self, value: str) -> None:
        if value not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {', '.join(TRUNCATIONS)}, not {value!r}")
        self._truncation = value

    @functools.cached_property
    def _untruncated(self) -> Any:
        """A copy of the library's tokenizer that never truncates (head+tail, sentence pairs), so no
        call toggles the truncation of the shared one."""
        from tokenizers import Tokenizer

        whole = Tokenizer.from_str(self.tokenizer.to_str())
        whole.no_truncation()
        return whole

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    @property
    def special_ids(self) -> tuple[int, ...]:
        return (self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id)

    @property
    def structural_ids(self) -> tuple[int, ...]:
        """The special tokens that stand for no word of the text: [UNK] stands for one the
        vocabulary lacks, which the model reads and an explanation must be able to credit."""
        return (self.pad_id, self.cls_id, self.sep_id, self.mask_id)

    def _encode_batch(self, texts: Sequence[str], add_special_tokens: bool = True, whole: bool = False) -> Iterator[Any]:
        """The library's encodings (`whole`: untruncated), a few thousand texts per call: those of one
        call live until it returns, and a truncated text's keep all of its tokens (as overflow), so
        one call over a large corpus of long texts held gigabytes (3.3 GB for 117,000 SST-2 + IMDb
        texts)."""
        texts = list(texts)
        tokenizer = self._untruncated if whole else self.tokenizer
        for start in range(0, len(texts), ENCODE_CHUNK):
            chunk = texts[start : start + ENCODE_CHUNK]
            yield from tokenizer.encode_batch(chunk, add_special_tokens=add_special_tokens)

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        """[CLS] text [SEP], truncated to max_len, with character offsets for explanations."""
        out = []
        for e in self._encode_batch(texts, whole=self.truncation == "head+tail"):
            keep = self._kept(len(e.ids))
            ids, tokens, offsets = e.ids, e.tokens, e.offsets
            if keep is not None:
                ids, tokens, offsets = ([seq[i] for i in keep] for seq in (ids, tokens, offsets))
            truncated = keep is not None or bool(e.overflowing)
            out.append(Encoding(np.asarray(ids, dtype=np.int64), list(tokens), [tuple(o) for o in offsets], truncated))
        return out

    def encode_ids(self, texts: Sequence[str], whole: bool = False) -> list[np.ndarray]:
        """[CLS] text [SEP] ids, truncated to max_len; `whole`: not truncated (what a wide head reads)."""
        if whole:
            return [np.asarray(e.ids, dtype=np.int64) for e in self._encode_batch(texts, whole=True)]
        out = []
        for e in self._encode_batch(texts, whole=self.truncation == "head+tail"):
            ids = np.asarray(e.ids, dtype=np.int64)
            keep = self._kept(len(ids))
            out.append(ids if keep is None else ids[keep])
        return out

    def _kept(self, length: int) -> np.ndarray | None:
        """Head+tail: the positions kept of a [CLS] … [SEP] encoding of `length` tokens longer than
        max_len ([CLS], the first quarter of the room, the rest from the end, [SEP]); None to keep all."""
        if self.truncation == "head" or length <= self.max_len:
            return None
        head = 1 + (self.max_len - 2) // 4  # [CLS] and the head
        return np.concatenate([np.arange(head), np.arange(length - (self.max_len - head), length)])

    def encode_bare(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids without [CLS]/[SEP] (for assembling sentence pairs), not truncated."""
        return [np.asarray(e.ids, dtype=np.int64) for e in self._encode_batch(texts, False, whole=True)]
