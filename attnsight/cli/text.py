"""`attnsight text ...`: pretrain, train, evaluate, predict, explain, insights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from attnsight.cli.options import ConfigFile, Encoding, check_ranges, run_dirs
from attnsight.cli.render import console, metrics_table, print_json, progress
from attnsight.errors import AttnsightError

if TYPE_CHECKING:
    from attnsight.classifier import TextClassifier
    from attnsight.data.texts import Texts

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

ModelDir = Annotated[Path, typer.Option("--model", help="Bundle folder written by `text train`.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
TextCol = Annotated[str, typer.Option(help="Column holding the text.")]
LabelCol = Annotated[str, typer.Option(help="Column holding the label (strings or integers).")]
Format = Annotated[str, typer.Option(help="auto|csv|tsv|jsonl|parquet (.gz too).")]
# the commands that read a bundle read its columns by default
BundleTextCol = Annotated[Optional[str], typer.Option(
    "--text-col", help="Column holding the text [default: the one the bundle was trained on].")]
BundleLabelCol = Annotated[Optional[str], typer.Option(
    "--label-col", help="Column holding the label [default: the one the bundle was trained on].")]

# what `train` and `tune text` read, and how they split and seed it
Labelled = Annotated[Path, typer.Option(help="Labelled texts: csv/tsv/jsonl/parquet, .gz too.")]
ValidFile = Annotated[Optional[Path], typer.Option(help="Validation file (default: a stratified share of DATA).")]
TestFile = Annotated[Optional[Path], typer.Option(help="Test file (default: a stratified share of DATA).")]
ValidSize = Annotated[float, typer.Option(help="Validation share when --valid is not given.")]
TestSize = Annotated[float, typer.Option(help="Test share when --test is not given.")]
Epochs = Annotated[int, typer.Option(help="Most epochs (early stopping on validation macro-F1).")]
Seed = Annotated[int, typer.Option(help="Random seed (also of the split).")]
Truncation = Annotated[str, typer.Option(
    help="A text longer than --max-len keeps its start (head), or its first quarter and its end (head+tail).")]
BigramBuckets = Annotated[int, typer.Option(
    help="Scratch: hashed embeddings of each token pair in this many buckets (0: off); e.g. 65536.")]
CLASS_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")


def _load(model: Path, device: str):  # -> TextClassifier
    from attnsight.classifier import TextClassifier

    clf = TextClassifier.from_pretrained(model, device=device)
    clf.check_labelled(model)
    return clf


def _read(path: Path, text_col: str, label_col: Optional[str], format: str, encoding: str, labels: bool = False):
    from attnsight.data.texts import read_texts

    return read_texts(path, text_col, label_col, format, encoding, require_labels=labels)


def _inputs(text: Optional[list[str]], data: Optional[Path], text_col: Optional[str], format: str, encoding: str,
            limit: Optional[int], clf: TextClassifier) -> tuple[list[str], Optional[list[int]]]:
    """The texts, and with --data each one's file line (blank lines are skipped, so rows and lines differ)."""
    if text and data is not None:
        raise AttnsightError("give --text (one or more) or --data, not both")
    if not text and data is None:
        raise AttnsightError("give the texts to read: --text (one or more) or --data FILE")
    if text:
        return list(text)[:limit] if limit else list(text), None
    frame = _read(data, text_col or clf.columns_["text"], None, format, encoding).frame
    frame = frame.head(limit) if limit else frame
    return frame["text"].to_list(), frame["line"].to_list()


@app.command()
def pretrain(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="Texts (labels ignored): csv/tsv/jsonl/parquet, .gz too.")],
    out: Annotated[Path, typer.Option(help="Folder for the pretrained encoder bundle (created).")],
    corpus: Annotated[Optional[list[Path]], typer.Option(help="Extra unlabelled text files (repeatable).")] = None,
    text_col: TextCol = "text",
    format: Format = "auto",
    encoding: Encoding = "utf-8",
    vocab_size: Annotated[int, typer.Option(help="WordPiece vocabulary size.")] = 8000,
    bigram_buckets: BigramBuckets = 0,
    max_len: Annotated[int, typer.Option(help="Tokens read per text ([CLS] and [SEP] included).")] = 128,
    truncation: Truncation = "head",
    dim: Annotated[int, typer.Option(help="Hidden size.")] = 128,
    layers: Annotated[int, typer.Option(help="Transformer blocks.")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.")] = 4,
    dropout: Annotated[float, typer.Option(help="Dropout rate.")] = 0.1,
    epochs: Annotated[int, typer.Option(help="Most MLM epochs (early stopping on held-out masked accuracy).")] = 10,
    mask_prob: Annotated[float, typer.Option(help="Share of tokens masked (BERT: 0.15, split 80/10/10).")] = 0.15,
    nsp: Annotated[bool, typer.Option(help="Also train next-sentence prediction on text halves.")] = False,
    whole_word_masking: Annotated[bool, typer.Option(help="Mask whole words (jieba words for Chinese).")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    lr_decay: Annotated[bool, typer.Option(help="Decay the rate linearly to 0 at the last of --epochs "
                                           "(BERT's schedule; default: constant after warm-up).")] = False,
    patience: Annotated[int, typer.Option(help="Epochs without held-out gain before stopping.")] = 3,
    time_budget: Annotated[Optional[float], typer.Option(help="Seconds of training at most.")] = None,
    device: Device = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoints in OUT/checkpoints.")] = False,
    json_out: Json = False,
) -> None:
    """Masked-language-model pretraining on unlabelled text; fine-tune it with `text train --init OUT`."""
    from attnsight.classifier import TextClassifier

    check_ranges(ctx.params, "text")
    texts = _read(data, text_col, None, format, encoding)
    extra = [_read(p, text_col, None, format, encoding) for p in corpus or []]
    clf = TextClassifier(
        vocab_size=vocab_size, bigram_buckets=bigram_buckets, max_len=max_len, truncation=truncation, dim=dim,
        num_layers=layers, num_heads=heads, dropout=dropout,
        pretrain_epochs=epochs, mask_prob=mask_prob, nsp=nsp, whole_word_masking=whole_word_masking,
        batch_size=batch_size, pretrain_lr=lr, pretrain_lr_decay=lr_decay,
        patience=patience, time_budget=time_budget, device=device, seed=seed,
        checkpoint_dir=str(out / "checkpoints"), resume=resume, log_dir=str(out / "logs"),
    )
    if not json_out:
        console.print(f"read {len(texts) + sum(len(e) for e in extra):,} texts")
    clf.pretrain(texts, extra, callbacks=progress(json_out))
    clf.save_pretrained(out)
    result = {k: v for k, v in clf.pretrain_metrics_.items() if k != "history"}
    if json_out:
        print_json(result)
        return
    console.print(_cleaning_line(result["cleaning"]))
    console.print(f"masked-token accuracy on held-out text: {result['valid'].get('mlm_accuracy', 0):.3f} "
                  f"({result['epochs']} epochs, {result['seconds']:.0f} s); encoder written to {out}")


def load_inputs(options: Mapping[str, Any]) -> tuple[Texts, Optional[Texts], Optional[Texts], list[Texts]]:
    """The labelled texts `train` reads (training, validation, test; any extra corpus), from its
    option values by name."""
    from attnsight.classifier import label_set

    o = options

    def read(path: Any, label_col: Optional[str]) -> Texts:
        return _read(Path(path), o["text_col"], label_col, o["format"], o["encoding"], labels=label_col is not None)

    train = read(o["data"], o["label_col"])
    label_set(train)  # one class only is said now, before `tune text` makes a study for it
    return (train, read(o["valid"], o["label_col"]) if o["valid"] else None,
            read(o["test"], o["label_col"]) if o["test"] else None, [read(p, None) for p in o["corpus"] or []])


def fit_model(inputs: tuple[Texts, Optional[Texts], Optional[Texts], list[Texts]], options: Mapping[str, Any],
              out: Optional[Path], callbacks: Sequence[Any]) -> TextClassifier:
    """The classifier `train` fits (and each `tune text` trial, with out=None), from option values by name."""
    from attnsight.classifier import TextClassifier

    o = options
    clf = TextClassifier(
        encoder=o["encoder"], init=str(o["init"]) if o["init"] else None, max_len=o["max_len"],
        truncation=o["truncation"], dim=o["dim"],
        num_layers=o["layers"], num_heads=o["heads"], dropout=o["dropout"], pooling=o["pooling"],
        vocab_size=o["vocab_size"], bigram_buckets=o["bigram_buckets"], wide_buckets=o["wide_buckets"],
        epochs=o["epochs"],
        pretrain_epochs=o["pretrain_epochs"],
        whole_word_masking=o["whole_word_masking"], pretrain_lr_decay=o["pretrain_lr_decay"],
        batch_size=o["batch_size"], lr=o["lr"], layer_lr_decay=o["layer_lr_decay"],
        weight_decay=o["weight_decay"], class_weights=o["class_weights"], label_smoothing=o["label_smoothing"],
        patience=o["patience"], restarts=o["restarts"], time_budget=o["time_budget"],
        valid_size=o["valid_size"], test_size=o["test_size"],
        device=o["device"], seed=o["seed"], resume=o["resume"], **run_dirs(out),
    )
    train_set, valid, test, corpus = inputs
    return clf.fit(train_set, valid, test, text_col=o["text_col"], label_col=o["label_col"], corpus=corpus,
                   callbacks=callbacks, dataset=Path(o["data"]).name)


@app.command()
def train(
    ctx: typer.Context,
    data: Labelled,
    out: Annotated[Path, typer.Option(help="Folder for the bundle (created).")],
    config: ConfigFile = None,
    valid: ValidFile = None,
    test: TestFile = None,
    text_col: TextCol = "text",
    label_col: LabelCol = "label",
    format: Format = "auto",
    encoding: Encoding = "utf-8",
    encoder: Annotated[str, typer.Option(help="scratch | minilm (pretrained English all-MiniLM-L6-v2, offline).")] = "scratch",
    init: Annotated[Optional[Path], typer.Option(help="Start from a bundle written by `text pretrain`.")] = None,
    pretrain_epochs: Annotated[int, typer.Option(help="MLM pretraining epochs on the training texts first.")] = 0,
    corpus: Annotated[Optional[list[Path]], typer.Option(help="Extra unlabelled text for that pretraining.")] = None,
    whole_word_masking: Annotated[bool, typer.Option(help="That pretraining masks whole words.")] = False,
    pretrain_lr_decay: Annotated[bool, typer.Option(help="That pretraining's rate decays linearly to 0.")] = False,
    vocab_size: Annotated[int, typer.Option(help="WordPiece vocabulary size (scratch).")] = 8000,
    bigram_buckets: BigramBuckets = 0,
    wide_buckets: Annotated[int, typer.Option(
        help="A wide head mixed with the attention one: logistic regression on TF-IDF of the tokens and token "
             "pairs (hashed into this many buckets; 0: off) of the whole text, however long, its strength "
             "cross-validated on the training texts, mixed on validation; e.g. 131072.")] = 0,
    max_len: Annotated[int, typer.Option(
        help="Tokens read per text (at most what the --init encoder was built for; 512 for MiniLM).")] = 128,
    truncation: Truncation = "head",
    dim: Annotated[int, typer.Option(help="Hidden size (scratch).")] = 128,
    layers: Annotated[int, typer.Option(help="Transformer blocks (scratch).")] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads (scratch).")] = 4,
    dropout: Annotated[float, typer.Option(help="Dropout rate.")] = 0.1,
    pooling: Annotated[Optional[str], typer.Option(help="cls | mean (default: cls scratch, mean MiniLM).")] = None,
    epochs: Epochs = 20,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 32,
    lr: Annotated[Optional[float], typer.Option(help="AdamW learning rate (default 5e-4 scratch, 5e-5 pretrained).")] = None,
    layer_lr_decay: Annotated[float, typer.Option(
        help="Layer-wise rates: each transformer block learns at this times the rate of the one above it, the "
             "embeddings lowest (1: one rate; ELECTRA fine-tunes at 0.8).")] = 1.0,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.01,
    class_weights: Annotated[bool, typer.Option(help="Weight classes by inverse frequency (imbalance).")] = False,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing of the cross-entropy.")] = 0.0,
    patience: Annotated[int, typer.Option(help="Epochs without validation macro-F1 gain before stopping.")] = 3,
    restarts: Annotated[int, typer.Option(
        help="Fine-tune this many times from the same encoder, each with a head and batch order of its own "
             "(seeds SEED, SEED+1, ...), and keep the best on validation macro-F1 (BERT's random restarts "
             "for small data).")] = 1,
    time_budget: Annotated[Optional[float], typer.Option(help="Seconds of training at most.")] = None,
    valid_size: ValidSize = 0.1,
    test_size: TestSize = 0.1,
    device: Device = "auto",
    seed: Seed = 42,
    resume: Annotated[bool, typer.Option(help="Continue from the checkpoints in OUT/checkpoints.")] = False,
    json_out: Json = False,
) -> None:
    """Train a text classifier (sentiment, intent, topic) and write a bundle to OUT."""
    check_ranges(ctx.params, "text")
    if init and encoder != "scratch":
        raise AttnsightError(f"--init and --encoder {encoder} both name the encoder to start from: give one")
    if init or encoder != "scratch":
        _check_given_encoder(ctx, init, encoder)
    if corpus and not pretrain_epochs:
        raise AttnsightError("--corpus is text for the pretraining that --pretrain-epochs N runs first: give N above 0")
    inputs = load_inputs(ctx.params)  # every option by name, as `tune text` builds its trials
    if not json_out:
        console.print(f"read {len(inputs[0]):,} labelled texts from {data}")
    clf = fit_model(inputs, ctx.params, out, progress(json_out))
    clf.save_pretrained(out)
    metrics = clf.metrics_
    if json_out:
        print_json(metrics)
        return
    console.print(_cleaning_line(metrics["cleaning"]))
    from attnsight.data.texts import look_alike_labels

    for group in look_alike_labels(clf.labels_):
        console.print(f"labels {', '.join(map(repr, group))} differ only in case, spacing or how a number is "
                      "written, and were trained as separate classes: make them one in the data if they mean one",
                      style="yellow", highlight=False)
    rows = {f"attnsight ({'fine-tuned from --init' if init else encoder})": metrics["test"]}
    if metrics["wide"]:  # what each of the mixed heads scores alone
        wide = metrics["wide"]
        rows.update({"attention head alone": wide["test_attention"], f"wide head alone (mix {wide['mix']:.2f})":
                     wide["test_wide"]})
    rows["majority class"] = metrics["baselines"]["majority"]["test"]
    console.print(metrics_table(f"Test ({metrics['protocol']['test']:,} texts)", rows, CLASS_METRICS))
    if metrics.get("restarts"):
        restarts = metrics["restarts"]
        chosen = restarts["runs"][restarts["chosen"] - 1]
        scores = ", ".join(f"{run['valid'].get('macro_f1', float('nan')):.4f}" for run in restarts["runs"])
        console.print(f"{len(restarts['runs'])} fine-tunings, validation macro-F1 {scores}: kept number "
                      f"{restarts['chosen']} (seed {chosen['seed']})", highlight=False)
    console.print(f"bundle written to {out} ({metrics['epochs']} epochs, "
                  f"{metrics['train_seconds']:.0f} s, stopped by {metrics['stopped_by']})")


def _check_given_encoder(ctx: typer.Context, init: Optional[Path], encoder: str) -> None:
    """An --init or MiniLM encoder brings its shape: the options that shape one trained from scratch
    are refused when given (not ignored), and so is a --max-len beyond what it reads."""
    from attnsight.classifier import MINILM_MAX_LEN
    from attnsight.models.base import read_task_config

    source = f"--init {init}" if init else f"--encoder {encoder}"
    given = [name for name in ("dim", "layers", "heads", "vocab_size", "bigram_buckets")
             if ctx.get_parameter_source(name).name != "DEFAULT"]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise AttnsightError(f"{flag} shapes an encoder trained from scratch; {source} has its own: leave {flag} out")
    longest = read_task_config(init, "text")["model"]["max_len"] if init else MINILM_MAX_LEN
    if ctx.params["max_len"] > longest and ctx.get_parameter_source("max_len").name != "DEFAULT":
        raise AttnsightError(f"--max-len {ctx.params['max_len']} is more than {source} reads: at most {longest}")


def _cleaning_line(report: dict[str, int]) -> str:
    dropped = {"empty": report["empty"], "duplicates": report["duplicates"],
               "conflicting labels": report["conflicting_labels"]}
    changed = {"HTML": report["html_cleaned"], "URLs": report["urls_removed"],
               "byte-order marks": report["bom_removed"], "Unicode": report["normalized"]}
    return (f"cleaning: {report['rows_in']:,} texts in, {report['rows_out']:,} kept; dropped "
            + ", ".join(f"{v:,} {k}" for k, v in dropped.items()) + "; cleaned "
            + ", ".join(f"{v:,} {k}" for k, v in changed.items()))


@app.command()
def evaluate(
    model: ModelDir,
    data: Annotated[Path, typer.Option(help="Labelled texts to evaluate on.")],
    text_col: BundleTextCol = None,
    label_col: BundleLabelCol = None,
    format: Format = "auto",
    encoding: Encoding = "utf-8",
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Accuracy, macro precision/recall/F1, per-class report and confusion matrix on labelled texts."""
    clf = _load(model, device)
    text_col, label_col = text_col or clf.columns_["text"], label_col or clf.columns_["label"]
    report = clf.evaluate(_read(data, text_col, label_col, format, encoding, labels=True), label_col=label_col)
    if json_out:
        print_json(report)
        return
    from rich.table import Table

    console.print(metrics_table(f"{data.name} ({int(report['examples']):,} texts)", {"attnsight": report},
                                CLASS_METRICS))
    table = Table(title="Per class", title_justify="left")
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report["per_class"].items():
        table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    console.print(table)


TextOpt = Annotated[Optional[list[str]], typer.Option("--text", help="A text to read (repeatable).")]
DataOpt = Annotated[Optional[Path], typer.Option("--data", help="A file of texts instead of --text.")]
Limit = Annotated[Optional[int], typer.Option(min=1, help="Only the first N texts of --data.")]


@app.command()
def predict(
    model: ModelDir,
    text: TextOpt = None,
    data: DataOpt = None,
    text_col: BundleTextCol = None,
    format: Format = "auto",
    encoding: Encoding = "utf-8",
    limit: Limit = None,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Label and class probabilities for each text."""
    clf = _load(model, device)
    texts, lines = _inputs(text, data, text_col, format, encoding, limit, clf)
    predictions = clf.predict(texts)
    if json_out:
        print_json([{**_line(lines, i), "text": t, **p.__dict__} for i, (t, p) in enumerate(zip(texts, predictions))])
        return
    from rich.table import Table

    table = Table(title="Predictions", title_justify="left")
    if lines:
        table.add_column("line", justify="right")
    table.add_column("text", overflow="fold", ratio=3)
    table.add_column("label")
    table.add_column("probability", justify="right")
    for i, (t, p) in enumerate(zip(texts, predictions)):
        table.add_row(*[str(v) for v in _line(lines, i).values()], t, p.label, f"{p.probabilities[p.label]:.3f}")
    console.print(table)


def _line(lines: Optional[list[int]], i: int) -> dict[str, int]:
    """{"line": the file line of the i-th text} when the texts came from --data; {} for --text."""
    return {"line": lines[i]} if lines else {}


@app.command()
def explain(
    model: ModelDir,
    text: TextOpt = None,
    data: DataOpt = None,
    text_col: BundleTextCol = None,
    format: Format = "auto",
    encoding: Encoding = "utf-8",
    limit: Limit = 10,
    html: Annotated[Optional[Path], typer.Option(help="Also write the highlighted texts to this HTML file.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Most-attended words listed per text.")] = 5,
    device: Device = "auto",
    method: Annotated[Optional[str], typer.Option(
        help="attention (rollout) | gradients (integrated gradients; the [explain] extra). Default: the more "
             "faithful for the bundle, gradients for MiniLM, attention otherwise.")] = None,
    json_out: Json = False,
) -> None:
    """Label, probabilities and the words the model attended to, highlighted."""
    from rich.text import Text

    from attnsight.explain.text import highlight_html, html_page, strongest_words
    from attnsight.report.page import check_html_name, write_html

    if html:
        check_html_name(html, "explained.html")
    clf = _load(model, device)
    texts, lines = _inputs(text, data, text_col, format, encoding, limit, clf)
    explanations = clf.explain(texts, method=method)
    # each text's heading, in the terminal and the page alike: "line 5 positive (0.93) (truncated)"
    titles = [" ".join([*(f"line {n}" for n in _line(lines, i).values()), f"{e.label} ({e.probabilities[e.label]:.2f})",
                        *(["(truncated)"] if e.truncated else [])]) for i, e in enumerate(explanations)]
    if html:
        write_html(html, html_page([highlight_html(e.text, e.words, t) for e, t in zip(explanations, titles)]), "explained.html")
    if json_out:
        print_json([{**_line(lines, i), **e.__dict__} for i, e in enumerate(explanations)])
        return
    for e, title in zip(explanations, titles):
        peak = max((w.weight for w in e.words), default=0.0) or 1.0
        line, cursor = Text(), 0
        for w in e.words:
            line.append(e.text[cursor : w.start])
            shade = int(255 - 200 * w.weight / peak)
            line.append(e.text[w.start : w.end], style=f"black on rgb(255,{shade},{shade})" if w.weight / peak > 0.15 else "")
            cursor = w.end
        line.append(e.text[cursor:])
        console.print(title, style="bold")
        console.print(line)
        console.print("  attended: " + strongest_words(e.words, top), highlight=False)
    if html:
        console.print(f"highlighted texts written to {html}")


@app.command()
def insights(
    model: ModelDir,
    data: Annotated[Path, typer.Option(help="Texts of the audience (labels not needed).")],
    text_col: BundleTextCol = None,
    format: Format = "auto",
    encoding: Encoding = "utf-8",
    limit: Limit = None,
    top: Annotated[int, typer.Option(min=1, help="Words per class.")] = 15,
    min_count: Annotated[int, typer.Option(min=1, help="Words in fewer texts are left out.")] = 3,
    device: Device = "auto",
    json_out: Json = False,
) -> None:
    """Per predicted class, the words the model attends to most, beside how often they occur."""
    clf = _load(model, device)
    texts = _read(data, text_col or clf.columns_["text"], None, format, encoding).texts
    result = clf.insights(texts[:limit] if limit else texts, top=top, min_count=min_count)
    if json_out:
        print_json(result)
        return
    from rich.table import Table

    for label, rows in result.items():
        table = Table(title=f"What '{label}' texts are about", title_justify="left")
        for column in ("word", "attention share", "texts", "frequency", "lift"):
            table.add_column(column, justify="left" if column == "word" else "right")
        for r in rows:
            table.add_row(r["word"], f"{r['attention']:.3f}", f"{r['texts']:,}", f"{r['frequency']:.1%}",
                          f"{r['lift']:.2f}")
        console.print(table)
