"""Writing a file whole: into a temporary file beside it, renamed over it once complete."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attnsight.errors import AttnsightError

# free bytes under which a failed write is put down to a full disk: torch names no cause when its
# writer fails, and safetensors and tokenizers raise their own exception types
FULL_DISK_BYTES = 1 << 20


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write` on a temporary file beside `path`, then rename it to `path`: a crash, Ctrl-C or a
    full disk leaves the file as it was and no temporary file behind. The temporary name is this
    call's own, so processes and threads writing one path each leave it whole; unlike mkstemp's
    private files it takes the umask's permissions, so a bundle one account writes another can serve.
    A write that fails for want of space ends in an AttnsightError naming `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        full = isinstance(exc, Exception) and _free_bytes(path.parent) < FULL_DISK_BYTES
        tmp.unlink(missing_ok=True)
        if full:
            raise AttnsightError(f"{path}: not written, no space left on its disk") from exc
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """`write_atomic` of a UTF-8 text."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:  # the folder is gone: not a full disk
        return FULL_DISK_BYTES


def json_text(payload: Any, indent: int | None = 2) -> str:
    """Strict JSON of `payload`, dataclasses as objects: a number that is not one (a ROC AUC without
    positives, a silhouette of one segment) is null, as JSON has no NaN and strict readers refuse it."""
    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            obj = dataclasses.asdict(obj)
        if isinstance(obj, dict):
            return {key: plain(value) for key, value in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [plain(value) for value in obj]
        if isinstance(obj, float) and not math.isfinite(obj):
            return None
        return obj

    return json.dumps(plain(payload), indent=indent, ensure_ascii=False, allow_nan=False)
