"""``voc export``: a run's analyst outputs (Excel workbook, UTF-8-BOM CSV files, PNG theme chart)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add ``voc export`` to app."""
    from voc.cli.main import console, friendly

    @app.command("export")
    @friendly
    def export(
        run_dir: Path = typer.Argument(..., help="A run folder written by 'voc run'."),
        xlsx: Optional[Path] = typer.Option(None, "--xlsx", help="Excel workbook to write, e.g. runs/demo.xlsx."),
        csv_dir: Optional[Path] = typer.Option(None, "--csv", help="Folder for one UTF-8-BOM CSV file per table."),
        chart: Optional[Path] = typer.Option(None, "--chart", help="PNG of the themes' volume and net sentiment."),
    ):
        """Export a run for analysts: Excel workbook (summary, themes, drivers, verbatims), CSV files, chart."""
        from voc.report.export import export_run

        with console.status("exporting"):
            res = export_run(run_dir, xlsx, csv_dir, chart)
        if res.xlsx:
            rows = ", ".join(f"{k} {v:,}" for k, v in res.sheet_rows.items())
            console.print(f"workbook → [bold]{res.xlsx}[/] ({res.xlsx_bytes / 1e6:.2f} MB; rows: {rows})")
        if res.csv_files:
            console.print(f"{len(res.csv_files)} CSV files (UTF-8 with BOM) → [bold]{Path(res.csv_files[0]).parent}[/]")
        if res.chart:
            console.print(f"chart → [bold]{res.chart}[/]")
        if res.guarded:
            console.print(f"{res.guarded} cell(s) starting with = + - @ written as text (no formulas)")
        if res.truncated:
            console.print(f"[yellow]{res.truncated} cell(s) over Excel's 32,767 characters were cut (marked)[/]")
        console.print(f"{res.seconds:.2f}s")
