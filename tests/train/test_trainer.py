"""Batching, objectives and the Trainer: learning, stopping, best state, resume, checkpoints, logs."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from attnsight.errors import AttnsightError
from attnsight.models import SASRec, SASRecConfig
from attnsight.train import ClozeObjective, NextItemObjective, SequenceBatcher, Trainer, TrainerConfig, resolve_device
from attnsight.train.trainer import data_digest

# ----------------------------------------------------------------------------- batches

HISTORIES = [
    np.array([1, 2, 3, 4, 5, 6, 7]),  # longer than max_len + 1: trimmed to the last 4
    np.array([8, 9]),
    np.array([3]),  # too short for next-item training: dropped with shift=True
    np.array([5, 6, 7]),
    np.array([2, 4, 6, 8, 1]),
    np.array([9, 7]),
]


def _nonzero(row: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(x) for x in row if x != 0)


def test_batcher_shift_shapes_trimming_and_targets() -> None:
    batcher = SequenceBatcher(HISTORIES, max_len=4, batch_size=2, shift=True)
    assert len(batcher.inputs) == 5
    assert len(batcher) == 3
    seen = Counter()
    for batch in batcher.epoch(np.random.default_rng(0)):
        items, targets = batch["items"], batch["targets"]
        assert items.dtype == torch.long and items.shape == targets.shape
        assert items.shape[0] <= 2 and items.shape[1] <= 4
        lengths = (items != 0).sum(1)
        assert lengths.max() == items.shape[1]  # trimmed to the longest row, no all-padding column
        assert torch.equal(items != 0, targets != 0)  # a target at every real slot, nowhere else
        for x, y in zip(items, targets):
            seen[(_nonzero(x), _nonzero(y))] += 1
            real = x != 0
            assert torch.equal(y[real][:-1], x[real][1:])  # target at t is the input at t + 1
    expected = Counter(
        (tuple(h[:-1][-4:].tolist()), tuple(h[1:][-4:].tolist())) for h in HISTORIES if len(h) >= 2
    )
    assert seen == expected  # every row exactly once per epoch


def test_batcher_cloze_keeps_whole_histories() -> None:
    batcher = SequenceBatcher(HISTORIES, max_len=4, batch_size=4, shift=False)
    rows = Counter()
    for batch in batcher.epoch(np.random.default_rng(1)):
        assert set(batch) == {"items"}
        rows.update(_nonzero(x) for x in batch["items"])
    assert rows == Counter(tuple(h[-4:].tolist()) for h in HISTORIES)


def test_batcher_epochs_are_seeded() -> None:
    batcher = SequenceBatcher(HISTORIES * 5, max_len=4, batch_size=3, shift=True)

    def order(seed: int) -> list[list[tuple[int, ...]]]:
        return [[_nonzero(x) for x in b["items"]] for b in batcher.epoch(np.random.default_rng(seed))]

    assert order(3) == order(3)
    assert order(3) != order(4)


def test_batcher_rejects_no_usable_sequences() -> None:
    with pytest.raises(ValueError):
        SequenceBatcher([np.array([1]), np.array([2])], max_len=4, batch_size=2, shift=True)


# ----------------------------------------------------------------------------- objectives


class _Spy:
    """Stands in for SASRec and records what an objective feeds it."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(mask_index=99, num_items=10)
        self.calls: list[dict] = []

    def __call__(self, items, targets=None, causal=True):
        self.calls.append({"items": items, "targets": targets, "causal": causal})
        return SimpleNamespace(loss=torch.tensor(0.0))


def _cloze_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    items = torch.randint(1, 10, (200, 8), generator=g)
    lengths = torch.randint(1, 9, (200,), generator=g)
    pad = torch.arange(8)[None, :] < (8 - lengths)[:, None]
    return items.masked_fill(pad, 0)


@pytest.mark.parametrize("mask_prob", [0.0, 0.2, 0.5, 1.0])
def test_cloze_masks_only_real_items_and_at_least_one(mask_prob: float) -> None:
    items = _cloze_batch()
    spy = _Spy()
    torch.manual_seed(0)
    ClozeObjective(mask_prob)(spy, {"items": items})
    call = spy.calls[0]
    inputs, targets = call["items"], call["targets"]
    assert call["causal"] is False
    masked = inputs == 99
    real = items != 0
    assert torch.equal(masked, targets != 0)  # a target exactly where an item is hidden
    assert not (masked & ~real).any()  # padding is never masked
    assert torch.equal(targets[masked], items[masked])  # the target is the hidden item
    assert torch.equal(inputs[~masked], items[~masked])  # everything else is untouched
    assert masked.any(dim=1).all()  # at least one per sequence
    share = masked.sum().item() / real.sum().item()
    if mask_prob == 0.0:
        assert torch.equal(masked, torch.zeros_like(masked).index_fill_(1, torch.tensor([7]), True))
    elif mask_prob == 1.0:
        assert torch.equal(masked, real)
    else:
        assert abs(share - mask_prob) < 0.1


def test_next_item_objective_full_and_sampled() -> None:
    model = _tiny_model().eval()  # no dropout: the two calls must see the same network
    batch = {"items": torch.tensor([[0, 1, 2], [3, 4, 5]]), "targets": torch.tensor([[0, 2, 3], [4, 5, 6]])}
    full = NextItemObjective()(model, batch)
    torch.testing.assert_close(full, model(batch["items"], batch["targets"]).loss)
    torch.manual_seed(0)
    sampled = NextItemObjective(negatives=4)(model, batch)
    assert sampled.shape == () and torch.isfinite(sampled)
    assert abs(sampled.item() - full.item()) > 1e-4  # 5 candidates, not the whole catalogue


# ----------------------------------------------------------------------------- trainer

NUM_ITEMS = 10


def _tiny_model(seed: int = 0) -> SASRec:
    torch.manual_seed(seed)
    return SASRec(SASRecConfig(num_items=NUM_ITEMS, max_len=8, dim=16, num_layers=1, num_heads=2, ffn_dim=32,
                               dropout=0.1))


def _cyclic_histories() -> list[np.ndarray]:
    # next item = current item + 1 (mod 10): learnable, and popularity cannot solve it
    return [np.array([(s + t) % NUM_ITEMS + 1 for t in range(9)]) for s in range(40)]


def _batcher() -> SequenceBatcher:
    return SequenceBatcher(_cyclic_histories(), max_len=8, batch_size=8, shift=True)


HELD_OUT = {"items": torch.tensor([[1, 2, 3, 4], [6, 7, 8, 9]]), "targets": torch.tensor([[2, 3, 4, 5], [7, 8, 9, 10]])}


def _held_out_eval(model) -> dict[str, float]:
    with torch.no_grad():
        return {"ndcg@10": -float(model(HELD_OUT["items"], HELD_OUT["targets"]).loss)}


def _config(**kw) -> TrainerConfig:
    base = dict(epochs=6, lr=1e-2, warmup_steps=5, device="cpu", seed=7, patience=100)
    base.update(kw)
    return TrainerConfig(**base)


class _Recorder:
    """Records the callbacks it gets and, given the model, its weights at the end of each epoch."""

    def __init__(self, model: torch.nn.Module | None = None) -> None:
        self.model = model
        self.epochs: list[int] = []
        self.states: dict[int, dict] = {}
        self.steps = 0
        self.started = self.ended = 0
        self.results: list = []

    def on_train_start(self, trainer, epochs, steps_per_epoch) -> None:
        self.started += 1

    def on_step(self, trainer, epoch, step, loss) -> None:
        self.steps += 1

    def on_epoch_end(self, trainer, epoch, logs) -> None:
        self.epochs.append(epoch)
        if self.model is not None:
            self.states[epoch] = copy.deepcopy(self.model.state_dict())

    def on_train_end(self, trainer, result) -> None:
        self.ended += 1
        self.results.append(result)


def _fit(model, config: TrainerConfig, evaluate=None, callbacks=()):
    batcher = _batcher()
    return Trainer(config, callbacks).fit(model, batcher.epoch, len(batcher), NextItemObjective(), evaluate)


def test_loss_decreases_on_a_learnable_problem() -> None:
    model = _tiny_model()
    rec = _Recorder()
    result = _fit(model, _config(epochs=8), _held_out_eval, [rec])
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 8 and result.epochs == 8 and result.stopped_by == "epochs"
    assert losses[-1] < 0.5 * losses[0]
    assert result.best_metrics["ndcg@10"] > -1.0  # held-out loss well under log(10) = 2.3
    assert rec.started == rec.ended == 1 and rec.epochs == list(range(1, 9)) and rec.steps == 8 * 5
    assert all("valid_ndcg@10" in h and "seconds" in h and "lr" in h for h in result.history)


def test_early_stopping_with_flat_validation() -> None:
    result = _fit(_tiny_model(), _config(epochs=20, patience=2), lambda m: {"ndcg@10": 0.5})
    assert result.stopped_by == "early_stopping"
    assert result.epochs == 3  # best at 1, then two evaluations without improvement
    assert result.best_epoch == 1
    assert len(result.history) == 3


def test_time_budget_stops() -> None:
    rec = _Recorder()
    result = _fit(_tiny_model(), _config(epochs=20, time_budget=1e-6), lambda m: {"ndcg@10": 0.5}, [rec])
    assert result.stopped_by == "time_budget"
    assert result.epochs == 1
    assert rec.steps == 1  # stopped right after the first step
    assert result.best_metrics == {"ndcg@10": 0.5}  # the partial epoch was still validated


def test_model_ends_at_its_best_state() -> None:
    scores = iter([0.1, 0.9, 0.2, 0.3])
    model = _tiny_model()
    rec = _Recorder(model)
    result = _fit(model, _config(epochs=4), lambda m: {"ndcg@10": next(scores)}, [rec])
    assert result.best_epoch == 2 and result.best_metrics == {"ndcg@10": 0.9}
    final = model.state_dict()
    for name, tensor in rec.states[2].items():
        assert torch.equal(final[name], tensor), name
    assert any(not torch.equal(final[n], t) for n, t in rec.states[4].items())


class _Crash(Exception):
    pass


class _CrashAt:
    """Interrupts training at the first step of `epoch`, as a killed process would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_start(self, trainer, epochs, steps_per_epoch) -> None: ...
    def on_epoch_end(self, trainer, epoch, logs) -> None: ...
    def on_train_end(self, trainer, result) -> None: ...

    def on_step(self, trainer, epoch, step, loss) -> None:
        if epoch == self.epoch:
            raise _Crash


def test_a_crash_ends_every_callback_then_goes_on() -> None:
    rec = _Recorder()
    with pytest.raises(_Crash):
        _fit(_tiny_model(), _config(epochs=4), _held_out_eval, [rec, _CrashAt(2)])
    assert rec.started == 1 and rec.epochs == [1] and rec.results == [None]  # None: no result, an error


def test_a_progress_bar_ended_by_a_crash_gives_the_terminal_back() -> None:
    import io
    import sys

    from rich.console import Console

    from attnsight.train.callbacks import RichProgress

    screen = io.StringIO()
    stderr = sys.stderr
    with pytest.raises(_Crash):
        _fit(_tiny_model(), _config(epochs=4), None, [RichProgress(Console(file=screen, force_terminal=True)),
                                                      _CrashAt(2)])
    shown = screen.getvalue()
    assert "\x1b[?25l" in shown and shown.rindex("\x1b[?25h") > shown.rindex("\x1b[?25l")  # cursor hidden, then shown
    assert sys.stderr is stderr


@pytest.mark.parametrize("epoch_lines", [True, False])
def test_a_progress_bar_prints_epoch_lines_unless_told_not_to(epoch_lines: bool) -> None:
    import io

    from rich.console import Console

    from attnsight.train.callbacks import RichProgress

    screen = io.StringIO()
    _fit(_tiny_model(), _config(epochs=2), _held_out_eval,
         [RichProgress(Console(file=screen, force_terminal=True, width=120), epoch_lines=epoch_lines)])
    shown = screen.getvalue()
    assert "train epoch 1" in shown  # the bar's description, drawn as it ran
    assert ("train epoch   2  loss" in shown) is epoch_lines


def test_resume_continues_and_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt" / "train.pt"
    with pytest.raises(_Crash):
        _fit(_tiny_model(), _config(epochs=4, checkpoint=str(ckpt)), _held_out_eval, [_CrashAt(3)])
    assert ckpt.is_file()
    assert not list(ckpt.parent.glob("*.tmp"))  # written atomically
    payload = torch.load(ckpt, weights_only=True)  # no pickled objects
    assert payload["meta"]["epoch"] == 2 and len(payload["meta"]["history"]) == 2

    rec = _Recorder()
    resumed_model = _tiny_model(seed=123)  # a different start: everything must come from the checkpoint
    resumed = _fit(resumed_model, _config(epochs=4, checkpoint=str(ckpt), resume=True), _held_out_eval, [rec])
    assert rec.epochs == [3, 4]  # continued, did not restart
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.epochs == 4
    assert torch.load(ckpt, weights_only=True)["meta"]["epoch"] == 4
    assert not list(ckpt.parent.glob("*.tmp"))

    straight_model = _tiny_model()
    straight = _fit(straight_model, _config(epochs=4), _held_out_eval)
    assert straight.best_epoch == resumed.best_epoch
    assert straight.best_metrics["ndcg@10"] == pytest.approx(resumed.best_metrics["ndcg@10"], abs=1e-5)
    for (name, a), b in zip(straight_model.state_dict().items(), resumed_model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=name)
    for a, b in zip(straight.history, resumed.history):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["lr"] == pytest.approx(b["lr"])  # the warm-up schedule resumed where it was


def _scripted(*scores: float):
    it = iter(scores)
    return lambda model: {"ndcg@10": next(it)}


def test_resume_extends_a_finished_run_to_more_epochs(tmp_path: Path) -> None:
    ckpt = tmp_path / "train.pt"
    # epoch 1 is the best: the finished 2-epoch run ends at epoch 1's weights, but its extension
    # must go on from epoch 2's, as an uninterrupted 4-epoch run does
    first = _fit(_tiny_model(), _config(epochs=2, checkpoint=str(ckpt)), _scripted(0.9, 0.1))
    assert first.epochs == 2 and first.best_epoch == 1
    assert torch.load(ckpt, weights_only=True)["meta"]["epoch"] == 2

    resumed_model = _tiny_model(seed=123)
    rec = _Recorder(resumed_model)
    resumed = _fit(resumed_model, _config(epochs=4, checkpoint=str(ckpt), resume=True), _scripted(0.2, 0.3), [rec])
    assert rec.epochs == [3, 4]  # continued from epoch 3
    assert resumed.epochs == 4 and resumed.best_epoch == 1 and resumed.stopped_by == "epochs"

    straight_model = _tiny_model()
    straight_rec = _Recorder(straight_model)
    _fit(straight_model, _config(epochs=4), _scripted(0.9, 0.1, 0.2, 0.3), [straight_rec])
    for name, a in straight_rec.states[4].items():
        torch.testing.assert_close(a, rec.states[4][name], atol=1e-5, rtol=1e-5, msg=name)
    for (name, a), b in zip(straight_model.state_dict().items(), resumed_model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=name)  # both end at epoch 1's best


def test_resume_of_a_finished_run_does_not_train_again(tmp_path: Path) -> None:
    ckpt = tmp_path / "train.pt"
    first_model = _tiny_model()
    rec = _Recorder(first_model)
    first = _fit(first_model, _config(epochs=10, patience=1, checkpoint=str(ckpt)), lambda m: {"ndcg@10": 0.5}, [rec])
    assert first.stopped_by == "early_stopping" and first.epochs == 2 and first.best_epoch == 1

    again = _Recorder()
    model = _tiny_model(seed=123)
    result = _fit(model, _config(epochs=10, patience=1, checkpoint=str(ckpt), resume=True),
                  lambda m: {"ndcg@10": 0.5}, [again])
    assert again.epochs == []  # the phase had ended: nothing more is trained
    assert result.stopped_by == "early_stopping" and result.epochs == 2 and result.best_epoch == 1
    for name, tensor in rec.states[1].items():  # and the model is the run's best state
        assert torch.equal(model.state_dict()[name], tensor), name


def test_resume_without_checkpoint_starts_fresh(tmp_path: Path) -> None:
    rec = _Recorder()
    result = _fit(_tiny_model(), _config(epochs=2, checkpoint=str(tmp_path / "none.pt"), resume=True), None, [rec])
    assert rec.epochs == [1, 2] and result.epochs == 2


def test_tensorboard_event_files(tmp_path: Path) -> None:
    log_dir = tmp_path / "tb"
    _fit(_tiny_model(), _config(epochs=2, log_dir=str(log_dir)), _held_out_eval)
    events = list(log_dir.rglob("events.out.tfevents*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/loss", "train/lr", "train/valid_ndcg@10"} <= set(tags)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


def test_windows_cover_every_target_once() -> None:
    history = np.arange(1, 12)  # 11 items: 10 next-item targets
    batcher = SequenceBatcher([history], max_len=4, batch_size=8, shift=True, windows=True)
    targets = batcher.targets[batcher.targets != 0]
    assert sorted(targets.tolist()) == list(range(2, 12))
    # each window's inputs are exactly the items before its targets
    for inputs, tgts in zip(batcher.inputs, batcher.targets):
        real = tgts != 0
        assert (inputs[real][1:] == tgts[real][:-1]).all()
    last_only = SequenceBatcher([history], max_len=4, batch_size=8, shift=True)
    assert sorted(last_only.targets[last_only.targets != 0].tolist()) == [8, 9, 10, 11]
    cloze = SequenceBatcher([history], max_len=4, batch_size=8, shift=False, windows=True)
    assert sorted(cloze.inputs[cloze.inputs != 0].tolist()) == list(range(1, 12))


def test_param_groups_scale_the_learning_rate_of_their_parameters() -> None:
    def fit(scale_of) -> tuple[SASRec, list[float]]:
        model = _tiny_model()
        groups: dict[float, list[torch.nn.Parameter]] = {}
        for name, parameter in model.named_parameters():
            groups.setdefault(scale_of(name), []).append(parameter)
        batcher = _batcher()
        result = Trainer(_config(epochs=2, lr=1e-2)).fit(
            model, batcher.epoch, len(batcher), NextItemObjective(),
            param_groups=[{"params": params, "lr_scale": scale} for scale, params in groups.items()])
        return model, [h["lr"] for h in result.history]

    start = _tiny_model().state_dict()
    frozen, rates = fit(lambda name: 0.0 if name.startswith("item_embedding") else 1.0)
    assert torch.equal(frozen.state_dict()["item_embedding.weight"], start["item_embedding.weight"])
    assert not torch.equal(frozen.state_dict()["positions.embedding.weight"], start["positions.embedding.weight"])
    assert rates == [1e-2, 1e-2]  # the history logs the full rate
    # Adam's step is proportional to its rate: a group at half the rate is a run at half the rate
    halved, _ = fit(lambda name: 0.5)
    plain = _tiny_model()
    _fit(plain, _config(epochs=2, lr=5e-3))
    for name, value in plain.state_dict().items():
        torch.testing.assert_close(halved.state_dict()[name], value, msg=name)


def test_resuming_from_a_damaged_checkpoint_or_one_of_other_options_is_a_one_line_error(tmp_path: Path) -> None:
    ckpt = str(tmp_path / "train.pt")
    _fit(_tiny_model(), _config(epochs=1, checkpoint=ckpt))
    wider = SASRec(SASRecConfig(num_items=NUM_ITEMS, max_len=8, dim=32, num_layers=1, num_heads=2, ffn_dim=32))
    with pytest.raises(AttnsightError, match=r"train.pt: this checkpoint does not fit .*size mismatch"):
        _fit(wider, _config(epochs=2, checkpoint=ckpt, resume=True))
    model, batcher = _tiny_model(), _batcher()
    groups = [{"params": list(model.parameters())[:2], "lr_scale": 0.5}, {"params": list(model.parameters())[2:],
                                                                         "lr_scale": 1.0}]
    with pytest.raises(AttnsightError, match="different number of parameter groups"):
        Trainer(_config(epochs=2, checkpoint=ckpt, resume=True)).fit(
            model, batcher.epoch, len(batcher), NextItemObjective(), param_groups=groups)
    Path(ckpt).write_bytes(Path(ckpt).read_bytes()[:1000])  # cut short, as by a full disk
    with pytest.raises(AttnsightError, match="train.pt: unreadable checkpoint .*remove it to start afresh"):
        _fit(_tiny_model(), _config(epochs=2, checkpoint=ckpt, resume=True))


def test_a_diverged_run_stops_before_its_checkpoint_is_written(tmp_path: Path) -> None:
    checkpoint = tmp_path / "train.pt"
    _fit(_tiny_model(), _config(epochs=1, checkpoint=str(checkpoint)))
    good = torch.load(checkpoint, weights_only=True)["meta"]["epoch"]

    def nan_loss(model, batch):  # what an exploding rate ends in
        return NextItemObjective()(model, batch) * float("nan")

    batcher = _batcher()
    trainer = Trainer(_config(epochs=3, checkpoint=str(checkpoint), resume=True))
    with pytest.raises(AttnsightError, match=r"training diverged \(loss nan in epoch 2\); lower the learning rate"):
        trainer.fit(_tiny_model(), batcher.epoch, len(batcher), nan_loss)
    assert torch.load(checkpoint, weights_only=True)["meta"]["epoch"] == good == 1  # the finite epoch is kept


@pytest.mark.parametrize("device", ["tpu", "gpu", "cuda:x"])
def test_unknown_devices_are_a_one_line_error(device: str) -> None:
    with pytest.raises(AttnsightError, match="--device must be auto, cpu, cuda or cuda:N"):
        resolve_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_device_is_a_one_line_error() -> None:
    with pytest.raises(AttnsightError, match="--device cuda asked for, but no CUDA device is available"):
        resolve_device("cuda")


def test_a_cuda_index_beyond_the_devices_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(AttnsightError, match="--device cuda:2 asked for, but this machine has CUDA devices 0 to 1 only"):
        resolve_device("cuda:2")


def test_resuming_a_model_of_other_heads_is_refused_though_every_shape_fits(tmp_path: Path) -> None:
    ckpt = str(tmp_path / "train.pt")
    _fit(_tiny_model(), _config(epochs=1, checkpoint=ckpt))
    config = _tiny_model().config
    more_heads = SASRec(SASRecConfig(**{**asdict(config), "num_heads": config.num_heads * 2}))
    with pytest.raises(AttnsightError, match=rf"train.pt: this checkpoint is of a model with num_heads "
                                             rf"{config.num_heads}, not {config.num_heads * 2}"):
        _fit(more_heads, _config(epochs=2, checkpoint=ckpt, resume=True))
    assert _fit(_tiny_model(), _config(epochs=2, lr=5e-3, checkpoint=ckpt, resume=True)).epochs == 2  # a rate may change


def test_resuming_on_other_data_is_refused(tmp_path: Path) -> None:
    ckpt = str(tmp_path / "train.pt")
    ours = data_digest(["good room", "rude staff"], ["pos", "neg"])
    _fit(_tiny_model(), _config(epochs=1, checkpoint=ckpt, data_digest=ours))
    relabelled = data_digest(["good room", "rude staff"], ["1", "0"])
    with pytest.raises(AttnsightError, match=r"train.pt: this checkpoint was trained on other data"):
        _fit(_tiny_model(), _config(epochs=2, checkpoint=ckpt, resume=True, data_digest=relabelled))
    assert _fit(_tiny_model(), _config(epochs=2, checkpoint=ckpt, resume=True, data_digest=ours)).epochs == 2
    assert data_digest(["ab"], ["c"]) != data_digest(["a"], ["bc"]) != data_digest(["a", "bc"])
    assert data_digest(np.arange(3)) == data_digest(np.arange(3)) != data_digest(np.arange(4))
