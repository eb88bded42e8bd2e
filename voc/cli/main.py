"""The ``voc`` command line: thin wrappers that parse arguments and call one library function."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from voc.errors import VocError

app = typer.Typer(help="voc: voice-of-customer text mining for Chinese feedback.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
console = Console(stderr=True)
out_console = Console()


def friendly(fn):
    """Turn user errors into one red sentence and exit code 2, with no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VocError as e:
            console.print(f"[bold red]error:[/] {e}")
            raise typer.Exit(2)

    return wrapper


@app.command()
@friendly
def run(
    pipeline: Path = typer.Argument(..., help="Pipeline YAML, e.g. pipelines/demo.yaml."),
    overrides: Optional[list[str]] = typer.Argument(None, help="Config overrides: dotted.key=value ..."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (overrides output.dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Run a pipeline over its input and write the run's store, Parquet files and report."""
    from voc.config import load_config
    from voc.pipeline import PipelineRun

    ov = list(overrides or [])
    if out is not None:
        ov.append(f"output.dir={out}")
    cfg = load_config(pipeline, ov)
    job = PipelineRun(cfg)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console, disable=quiet) as bar:
        task = bar.add_task(f"voc run {cfg.name}", total=1)
        res = job.execute(progress=lambda done, total: bar.update(task, completed=done, total=total))
    rate = res.rows_in / res.seconds if res.seconds else 0.0
    console.print(f"rows in = written + quarantined: [bold]{res.rows_in} = {res.written} + {res.quarantined}[/]"
                  + ("" if res.balanced else "  [bold red](MISMATCH)[/]"))
    if res.reasons:
        console.print("quarantined: " + ", ".join(f"{k} {v}" for k, v in sorted(res.reasons.items())))
    decoded = {k: v for k, v in res.warnings.items() if v and k.startswith("decoded_as_")}
    if decoded:
        console.print("rows in the file's other encoding (decoded, check them): "
                      + ", ".join(f"{k.removeprefix('decoded_as_')} {v}" for k, v in sorted(decoded.items())))
    nulled = {k: v for k, v in res.warnings.items() if v and not k.startswith("decoded_as_")}
    if nulled:
        console.print("values set to null: " + ", ".join(f"{k} {v}" for k, v in sorted(nulled.items())))
    console.print(f"{res.seconds:.2f}s ({rate:,.0f} rows/s) → {res.out_dir}")
    if not res.balanced:
        raise typer.Exit(1)


@app.command()
@friendly
def query(
    run_dir: Path = typer.Argument(..., help="A run folder written by 'voc run'."),
    category: Optional[str] = typer.Option(None, "--category", "-c", help="Category key or name (delivery, 物流配送), or taxonomy/key."),
    polarity: Optional[str] = typer.Option(None, "--polarity", "-p", help="Polarity of that category's mention."),
    sentiment: Optional[str] = typer.Option(None, "--sentiment", "-s", help="Overall comment sentiment."),
    since: Optional[str] = typer.Option(None, help="First date, YYYY-MM-DD."),
    until: Optional[str] = typer.Option(None, help="Last date, YYYY-MM-DD (inclusive)."),
    segment: Optional[list[str]] = typer.Option(None, "--segment", help="Segment filter name=value (repeatable)."),
    keyword: Optional[str] = typer.Option(None, "--keyword", "-k", help="Text contains this, or it is a keyword."),
    channel: Optional[str] = typer.Option(None, help="Channel equals this."),
    limit: int = typer.Option(50, help="At most this many rows (0 for all)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
):
    """Filter a run's comments and print them as a table, CSV or JSON."""
    from voc.errors import InputError
    from voc.store.query import CommentQuery, query_comments

    segs = {}
    for s in segment or []:
        if "=" not in s:
            raise InputError(f"--segment {s!r} must be name=value, e.g. --segment city=上海")
        k, v = s.split("=", 1)
        segs[k.strip()] = v.strip()
    if fmt not in ("table", "csv", "json"):
        raise InputError(f"--format must be table, csv or json, not {fmt!r}")
    df = query_comments(run_dir, CommentQuery(category, polarity, sentiment, since, until, segs, keyword, channel,
                                              limit or None))
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(df.to_json(orient="records", force_ascii=False, date_format="iso") + "\n")
    else:
        out_console.print(_comments_table(df))
        console.print(f"{len(df)} comment(s)")


def _comments_table(df) -> Table:
    """A compact terminal table: id, date, sentiment, categories and text (CSV/JSON have every column)."""
    import pandas as pd

    from voc.store.query import SCORE_COLUMNS

    base = {"id", "date", "channel", "sentiment", "text"}
    scores = [c for c in SCORE_COLUMNS if c in df.columns]
    label_cols = [c for c in df.columns if c not in base and c not in scores and not c.startswith("seg_")]
    table = Table(show_lines=False, expand=True)
    table.add_column("id", no_wrap=True)
    table.add_column("date", no_wrap=True)
    table.add_column("sentiment", no_wrap=True)
    if scores:  # one narrow column: the terminal is often 80 characters wide
        table.add_column("scores", no_wrap=True)
    table.add_column("categories", ratio=1, overflow="fold")
    table.add_column("text", ratio=2, overflow="fold")

    def score_lines(r) -> list[str]:  # 0 is a score (an NPS detractor), not a missing value
        return ["\n".join(f"{c.upper()} {float(r[c]):g}" for c in scores if not pd.isna(r[c]))] if scores else []

    for _, r in df.iterrows():
        date = "" if pd.isna(r["date"]) else str(r["date"])[:10]
        cats = "\n".join(p for c in label_cols if not pd.isna(r[c]) for p in str(r[c]).split(";") if p)
        table.add_row(str(r["id"]), date, str(r["sentiment"]), *score_lines(r), cats, str(r["text"]))
    return table


@app.command()
@friendly
def train(
    task: str = typer.Option(..., "--task", "-t", help="sentiment, rater, touchpoint or a taxonomy YAML file."),
    data: list[Path] = typer.Option(..., "--data", "-d", help="Training CSV (repeatable)."),
    backend: str = typer.Option("tfidf", "--backend", "-b", help="tfidf or transformer."),
    base_model: Optional[str] = typer.Option(None, "--base-model",
                                             help="Transformer: local checkpoint folder to fine-tune."),
    dev: Optional[list[Path]] = typer.Option(
        None, "--dev", help="Evaluation CSV (repeatable): text,label for sentiment, GUIDELINES format for "
        "categories."),
    neutral_data: Optional[list[Path]] = typer.Option(
        None, "--neutral-data", help="Sentiment: GUIDELINES-format file with 3-class labels (repeatable); "
        "half of each tunes neutral, the other half measures it."),
    data_weight: Optional[list[str]] = typer.Option(
        None, "--data-weight", help="Sentiment (tfidf): FILE_NAME=W weighs each row of that --data file W times "
        "(repeatable), e.g. my_domain.csv=3."),
    unlabelled: Optional[list[Path]] = typer.Option(None, "--unlabelled",
                                                    help="Categories: texts for weak labels (repeatable)."),
    text_column: Optional[str] = typer.Option(
        None, "--text-column", help="Column of the --unlabelled files with the comments (default: text), "
        "e.g. 评论内容."),
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write, e.g. models/my-sentiment."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the model already in --out."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as exactly one JSON object."),
    params: Optional[list[str]] = typer.Argument(None, help="Hyper-parameters: name=value ..."),
):
    """Train a model on labelled comments and write it as a model folder with metrics and a model card."""
    from voc.classify.evaluate import is_taxonomy_file
    from voc.classify.modelio import check_out_folder
    from voc.config import parse_override
    from voc.errors import ConfigError

    if backend not in ("tfidf", "transformer"):
        raise ConfigError(f"unknown backend {backend!r}; use --backend tfidf or --backend transformer")
    hp = {}
    for item in params or []:
        keys, value = parse_override(item)
        hp[".".join(keys)] = tuple(value) if isinstance(value, list) else value
    command = "voc " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("voc") else ""
    if data_weight and (backend != "tfidf" or task != "sentiment"):
        raise ConfigError("--data-weight works with --task sentiment --backend tfidf only; drop it here")
    if task == "sentiment" and unlabelled:
        raise ConfigError("--unlabelled gives category models texts for weak labels; drop it with --task sentiment")
    if neutral_data and task != "sentiment":
        raise ConfigError("--neutral-data tunes the neutral class of a sentiment model; drop it for a category "
                          "task (give held-out category labels with --dev)")
    if text_column is not None and not unlabelled:
        raise ConfigError("--text-column names the comment column of the --unlabelled files; give them too, "
                          "or drop it")
    check_out_folder(out, overwrite)
    if backend == "transformer":
        from voc.transformer.train import train_transformer

        _, metrics = train_transformer(task, list(data), list(dev or []), list(neutral_data or []),
                                       list(unlabelled or []), out, seed, hp, command, base_model,
                                       text_column=text_column)
        _print_train_result(task, metrics, out, as_json)
        return
    with console.status(f"training {task} ({backend})"):
        if task == "sentiment":
            from voc.classify.train import train_sentiment

            lw = float(hp.pop("lexicon_weight", 0.2))
            _, metrics = train_sentiment(list(data), list(dev or []), list(neutral_data or []), out, seed, hp,
                                         command, lw, _data_weights(data_weight))
        elif task in ("rater", "touchpoint") or is_taxonomy_file(task):
            from voc.taxonomy.train import train_category_model

            # voc's own label and check files are labelled for the bundled taxonomies only
            own = {"check_path": None, "blind_path": None, "extra_gold": []} if is_taxonomy_file(task) else {}
            from voc.classify.registry import auto_model

            # clauses are scored as the pipeline will score them: by its default sentiment model
            hp.setdefault("sentiment_model", auto_model("sentiment"))
            _, metrics = train_category_model(task, gold_path=data[0], unlabelled_paths=list(unlabelled or []),
                                              out_dir=out, seed=seed, dev_paths=list(dev or []),
                                              text_column=text_column, command=command, **{**own, **hp})
        else:
            raise ConfigError(f"unknown task {task!r}; use sentiment, rater, touchpoint or the path of a taxonomy "
                              f"YAML file")
    _print_train_result(task, metrics, out, as_json)


def _print_train_result(task: str, metrics: dict, out: Path, as_json: bool) -> None:
    """``voc train``'s output: the metrics as one JSON object (``--json``), else a few lines for a person."""
    if as_json:
        sys.stdout.write(json.dumps(metrics, ensure_ascii=False, default=str) + "\n")
        return
    for line in train_summary(task, metrics):
        out_console.print(line, highlight=False)
    console.print(f"model written to {out} (all figures in {out / 'metrics.json'}, described in "
                  f"{out / 'MODEL_CARD.md'})")


def train_summary(task: str, metrics: dict) -> list[str]:
    """Short lines on what ``voc train`` measured: rows trained on and the headline scores per evaluation.

    Parameters
    ----------
    task : ``sentiment`` or a taxonomy (name or YAML file).
    metrics : what the trainer returned (and wrote to ``metrics.json``).
    """
    def f(v) -> str:
        return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = []
    if task == "sentiment":
        labels = ", ".join(f"{k} {v}" for k, v in (metrics.get("train_labels") or {}).items())
        lines.append(f"trained on {metrics.get('train_rows', 0):,} rows" + (f" ({labels})" if labels else "")
                     + f" in {metrics.get('train_seconds', 0)} s")
        evals = [(f"dev {name}", m) for name, m in (metrics.get("dev") or {}).items()]
        if metrics.get("neutral_3class_heldout"):
            evals.append(("3-class held-out half of --neutral-data", metrics["neutral_3class_heldout"]))
        for name, m in evals:
            lines.append(f"{name}: n {m['n']} · accuracy {f(m['accuracy'])} · macro-F1 {f(m['macro_f1'])}")
        if not evals:
            lines.append("no evaluation data given (--dev, --neutral-data)")
        return lines
    d = metrics.get("data") or {}
    n_train = d.get("gold_train", d.get("gold_fit"))
    lines.append(f"taxonomy {metrics.get('taxonomy')}: {n_train} gold comments trained on, "
                 f"{d.get('unlabelled', d.get('weak', 0)):,} unlabelled; {metrics.get('train_seconds')} s")
    keys = (("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"), ("polarity_accuracy", "polarity accuracy"))
    evals = [(metrics.get("evaluated_on", "held out"), metrics)]
    evals += [(f"dev {name}", r) for name, r in (metrics.get("dev") or {}).items()]
    for where, res in evals:
        lines.append(f"{where}:")
        for who in ("rules", "model"):
            r = res[who]
            lines.append(f"  {who:<5}  " + " · ".join(f"{label} {f(r[k])}" for k, label in keys))
    return lines


def _data_weights(items: list[str] | None) -> dict[str, float]:
    """``--data-weight NAME=W`` options as a dict."""
    from voc.errors import ConfigError

    out = {}
    for item in items or []:
        name, sep, w = item.rpartition("=")
        try:
            out[Path(name).name] = float(w)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise ConfigError(f"--data-weight {item!r} is not FILE_NAME=NUMBER, e.g. my_domain.csv=3")
    return out


@app.command("eval")
@friendly
def eval_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Model name or folder; 'lexicon' or 'rules' for the rules."),
    data: Path = typer.Option(..., "--data", "-d", help="Labelled CSV, TSV or .xlsx: text,label or the GUIDELINES format."),
    task: str = typer.Option(..., "--task", "-t", help="sentiment, rater, touchpoint or a taxonomy YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    compare: Optional[str] = typer.Option(None, "--compare", "-c",
                                          help="A second model: is it better than --model on this file?"),
):
    """Evaluate a model on a labelled file: per-class precision/recall/F1 (and a confusion matrix); accuracy and
    F1 come with 95% bootstrap intervals in brackets. With --compare, two models side by side and how much the
    second beats the first, with a paired 95% interval."""
    from voc.classify.evaluate import run_compare, run_eval

    if compare:
        res = run_compare(task, model, compare, data)
        if as_json:
            sys.stdout.write(json.dumps(res, ensure_ascii=False) + "\n")
            return
        _print_compare(res)
        return
    res = run_eval(task, model, data)
    if as_json:
        sys.stdout.write(json.dumps(res, ensure_ascii=False) + "\n")
        return
    ci = res.get("ci", {})
    head = [f"{k} {res[k]}" + (f" [{ci[k][0]}, {ci[k][1]}]" if k in ci else "")
            for k in ("n", "accuracy", "micro_f1", "macro_f1", "polarity_accuracy", "docs_per_s")
            if res.get(k) is not None]
    out_console.print(f"[bold]{task}[/] · {model} · " + " · ".join(head))
    table = Table("class", "precision", "recall", "f1", "support")
    for name, m in res["per_class"].items():
        table.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out_console.print(table)
    if "confusion" in res:
        cm = Table("gold \\ predicted", *res["labels"], title="confusion matrix")
        for lab, row in zip(res["labels"], res["confusion"]):
            cm.add_row(lab, *[str(v) for v in row])
        out_console.print(cm)


def _print_compare(res: dict) -> None:
    a, b = res["a"], res["b"]
    keys = [k for k in ("accuracy", "micro_f1", "macro_f1", "polarity_accuracy") if k in a]
    table = Table("model", "n", *keys)
    for m in (a, b):
        table.add_row(m["model"], str(m["n"]), *[str(m[k]) for k in keys])
    out_console.print(table)
    names = {"micro_f1": "accuracy" if "accuracy" in a else "micro-F1", "macro_f1": "macro-F1"}
    for key, d in res["difference"].items():
        lo, hi = d["ci"]
        verdict = ("better" if lo > 0 else "worse" if hi < 0 else "no clear difference")
        out_console.print(f"{b['model']} − {a['model']}: {names[key]} {d['difference']:+.4f} "
                          f"[{lo:+.4f}, {hi:+.4f}] ({verdict}; ahead in {d['b_ahead']:.0%} of resamples)")


@app.command("label-queue")
@friendly
def label_queue_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Sentiment or category model (name or folder), or 'lexicon'."),
    data: Path = typer.Option(..., "--data", "-d",
                              help="CSV or TSV (UTF-8 or GBK), or .xlsx, with a text column (and optionally id)."),
    n: int = typer.Option(100, "--n", help="How many comments to queue."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV to write (default: print it)."),
    text_column: Optional[str] = typer.Option(None, "--text-column",
                                              help="Column with the comments (default: text), e.g. 评论内容."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Column with the ids (default: id, if any)."),
):
    """Export the N comments the model is least sure about, as a GUIDELINES-format CSV with empty labels.

    Texts are cleaned and PII-masked as the pipeline does; boilerplate, meaningless and duplicate comments
    are skipped.
    """
    from voc.classify.active import run_label_queue, write_queue

    queue = run_label_queue(model, data, n, out, text_column, id_column)
    if out is None:
        sys.stdout.write(write_queue(queue))
    else:
        console.print(f"{len(queue)} comment(s) to label → {out} (uncertainty {queue['uncertainty'].min():.3f}"
                      f"–{queue['uncertainty'].max():.3f})" if len(queue)
                      else f"no comments worth labelling in {data} (all empty, boilerplate or duplicates)")


@app.command()
@friendly
def bench(
    n: int = typer.Option(50_000, "--n", help="Rows in the generated dump."),
    pipeline: Optional[Path] = typer.Option(None, help="Pipeline YAML (default: pipelines/demo.yaml)."),
    workers: int = typer.Option(0, help="Processes for the end-to-end run (0 = automatic)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Benchmark throughput (per stage and end to end) and peak memory on an N-row dump of the sample."""
    from voc.bench import run_bench

    with console.status(f"benchmarking {n:,} rows"):
        res = run_bench(n, pipeline, workers)
    if as_json:
        sys.stdout.write(json.dumps(res) + "\n")
        return
    table = Table("metric", "value")
    for k, v in res.items():
        table.add_row(k, f"{v:,}" if isinstance(v, (int, float)) else str(v))
    out_console.print(table)


@app.command("bench-transformer")
@friendly
def bench_transformer(
    model: str = typer.Option(..., "--model", "-m", help="Transformer model (name or folder)."),
    n: int = typer.Option(1000, "--n", help="Comments to time."),
    data: Optional[Path] = typer.Option(None, "--data", help="CSV with a text column to time on."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="Labelled file: accuracy in fp32 and int8."),
    threads: int = typer.Option(2, "--threads", help="torch CPU threads."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
):
    """Benchmark a transformer model on CPU: comments/s in float32 and int8, and accuracy if gold is given."""
    from voc.transformer.bench import run_transformer_bench

    with console.status(f"benchmarking {model}"):
        res = run_transformer_bench(model, n, data, gold, threads)
    if as_json:
        sys.stdout.write(json.dumps(res, ensure_ascii=False) + "\n")
        return
    table = Table("metric", "value")
    for k, v in res.items():
        table.add_row(k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v))
    out_console.print(table)


@app.command()
def version():
    """Print voc's version."""
    from voc import __version__

    out_console.print(__version__)


def _register_submodules() -> None:
    """Commands kept in their own modules (analysis: drivers/export; models: registry/label-queue)."""
    from voc.cli import analysis, models

    analysis.register(app)
    models.register(app)
    __import__("voc.cli.export", fromlist=["register"]).register(app)  # voc export (xlsx/csv/chart)


_register_submodules()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
