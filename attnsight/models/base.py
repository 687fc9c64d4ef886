"""Saving and loading a model as config.json + model.safetensors (never a pickle)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from attnsight.errors import AttnsightError, last_line
from attnsight.files import json_text, write_atomic, write_text_atomic

M = TypeVar("M", bound="PretrainedModel")

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation, for `model.apply`: normal(0, std) weights, zero biases and padding rows."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write strict JSON (`json_text`: an undefined metric is null) whole (`write_atomic`)."""
    write_text_atomic(path, json_text(payload) + "\n")


def write_or_remove_json(path: Path, payload: Any) -> None:
    """An optional file of a bundle (metrics, drift profile): written when there is something to
    write, removed otherwise, so a bundle saved over an earlier one never keeps that one's file."""
    if payload:
        write_json_atomic(path, payload)
    else:
        path.unlink(missing_ok=True)


class PretrainedModel(nn.Module):
    """A module built from a dataclass config, saved as a bundle's config.json and weights.

    config.json holds {"task", "model": <config fields>, ...}; callers may add their own keys
    (data config, protocol) through `extra` without the model knowing about them.
    """

    config_class: ClassVar[type]
    task: ClassVar[str]

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def save_pretrained(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        from attnsight import __version__

        payload = {"task": self.task, "attnsight_version": __version__, "model": dataclasses.asdict(self.config)}
        payload.update(extra or {})
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        write_atomic(path / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp)))
        write_json_atomic(path / CONFIG_FILE, payload)

    @classmethod
    def from_pretrained(cls: type[M], path: str | Path, device: str | torch.device = "cpu") -> M:
        path = Path(path)
        payload = read_bundle_config(path)
        if payload.get("task") != cls.task:
            raise ValueError(f"{path}: bundle is for task {payload.get('task')!r}, not {cls.task!r}")
        model = cls(cls.config_class(**payload["model"]))
        try:
            model.load_state_dict(load_file(str(path / WEIGHTS_FILE), device=str(device)))
        except (SafetensorError, RuntimeError) as exc:  # a damaged file, or weights of another shape
            raise AttnsightError(f"{path / WEIGHTS_FILE}: unreadable or not this bundle's weights "
                                 f"({last_line(exc)})") from None
        return model.to(device)


@contextlib.contextmanager
def reading_bundle(path: Path) -> Iterator[None]:
    """Files of a bundle that do not read or do not fit together (cut short, edited by hand, one of
    them missing) end in one line naming the bundle, whichever library was reading them."""
    try:
        yield
    except AttnsightError:
        raise
    except Exception as exc:  # json, tokenizers, safetensors, numpy, a key or an index: all the bundle's
        raise AttnsightError(f"{path}: damaged bundle ({type(exc).__name__}: {last_line(exc)}); "
                             "write it anew") from None


def read_json(file: Path) -> Any:
    """One of a bundle's JSON files; an error names it (json's own gives only the line and column)."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{file.name}: {exc}") from None


def read_task_config(path: Path, task: str) -> dict[str, Any]:
    """config.json of a bundle for `task`, or a one-line error saying what the folder is instead."""
    try:
        payload = read_bundle_config(path)
    except FileNotFoundError as exc:
        raise AttnsightError(str(exc)) from None
    if payload["task"] != task:
        raise AttnsightError(f"{path}: a {payload['task']!r} bundle, not a {task} model")
    return payload


def bundle_task(folder: Path) -> str | None:
    """The task of the attnsight bundle in `folder`; None without one (no config.json, or another
    program's)."""
    if not (Path(folder) / CONFIG_FILE).is_file():
        return None
    try:
        return read_bundle_config(folder)["task"]
    except AttnsightError:  # not JSON, or naming no task
        return None


def read_bundle_config(path: Path) -> dict[str, Any]:
    config_path = Path(path) / CONFIG_FILE
    try:
        exists = Path(path).exists()
    except OSError as exc:  # a name longer than the file system allows, say (exists() lets that through)
        shown = str(path) if len(str(path)) <= 200 else f"{str(path)[:200]}…"
        raise AttnsightError(f"{shown}: cannot be a bundle folder ({exc.strerror})") from None
    if not exists:
        raise FileNotFoundError(f"{path}: no such bundle folder")
    if not config_path.is_file():
        raise FileNotFoundError(f"{path}: not a model bundle (no {CONFIG_FILE})")
    try:
        payload = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AttnsightError(f"{config_path}: not a bundle's config ({exc})") from None
    if not isinstance(payload, dict):
        raise AttnsightError(f"{config_path}: not a bundle's config (not a JSON object)")
    if not isinstance(payload.get("task"), str):
        raise AttnsightError(f"{path}: its {CONFIG_FILE} names no task (not a bundle attnsight wrote)")
    return payload
