"""CLI commands for analysis: registered onto the main Typer app by ``register``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


def _labels(run_dir: Path) -> dict[tuple[str, str], str]:
    """(taxonomy, key) → Chinese name of the run's categories (empty when the taxonomies cannot be loaded)."""
    import yaml

    from voc.taxonomy.model import load_taxonomy

    out = {}
    try:
        cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8")) or {}
        for t in cfg.get("taxonomies", []):
            tax = load_taxonomy(t.get("path") or t["name"])
            out.update({(t["name"], c.key): c.name for c in tax.categories})
    except Exception:  # noqa: BLE001 (labels are cosmetic; keys are shown instead)
        pass
    return out


def _fmt(v, spec: str = ".1f") -> str:
    return "—" if v is None else format(v, spec)


def _ci(lo, hi, spec: str = ".1f") -> str:
    return "" if lo is None or hi is None else f" ({format(lo, spec)}…{format(hi, spec)})"


WIDE_FROM = 130  # terminal columns from which ``voc drivers`` shows every column by default


def drivers_table(res: dict, labels: dict, top: int = 0, wide: bool = True):
    """A Rich table of one driver result (one taxonomy × group); CIs in parentheses.

    Parameters
    ----------
    res : one driver result of :func:`voc.analyze.driverstore.run_drivers`.
    labels : ``(taxonomy, key)`` → category name.
    top : show only the first ``top`` drivers (0: all).
    wide : every column (category key, odds-ratio interval, both impacts for NPS); when False a table that
        fits 80 columns: the category's name (its key when it has none), importance and one impact with
        intervals, the odds ratio without (for NPS the impact is Δ if neutral).
    """
    from rich import box
    from rich.table import Table

    pol = {"negative": "−", "positive": "+", "any": "", None: ""}
    nps = res["kind"] == "nps"
    title = (f"{res['taxonomy']} · {res['grouping']}={res['group']} · n={res['n']} · {res['metric']} "
             f"{_fmt(res['metric_value'], '.2f')} · R²={_fmt(res.get('shapley_r2') or res.get('rw_r2'), '.3f')}")
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    if wide:
        heads = ["#", "driver", "n", "importance %", "odds ratio"]
        heads += ["Δ if neutral", "Δ if removed"] if nps else ["Δ if removed"]
    else:
        heads = ["#", "driver", "n", "imp. %", "OR", "Δ neutral" if nps else "Δ removed"]
    for col in heads:  # compact: numbers and their intervals never wrap (the table fits 80 columns)
        t.add_column(col, justify="left" if col == "driver" else "right", overflow="fold",
                     no_wrap=not wide and col != "driver")
    ranked = res["ranked_by"]
    for d in res["drivers"][:top] if top else res["drivers"]:
        name = labels.get((d["taxonomy"], d["category"]), "")
        key = {"shapley": "shapley_pct", "relative_weights": "rw_pct"}.get(ranked)
        imp_ci = _ci(d.get(f"{key}_ci_low"), d.get(f"{key}_ci_high")) if key else ""
        neutral = (_fmt(d.get("impact_neutral"), "+.1f")
                   + _ci(d.get("impact_neutral_ci_low"), d.get("impact_neutral_ci_high"), "+.1f"))
        removed = (_fmt(d.get("impact_removed"), "+.1f")
                   + _ci(d.get("impact_removed_ci_low"), d.get("impact_removed_ci_high"), "+.1f"))
        sign = pol.get(d["polarity"], "")
        if wide:
            cells = [str(d["rank"]), f"{name} {d['category']} {sign}".strip(), str(d["n_mentions"]),
                     _fmt(d["importance"]) + imp_ci,
                     _fmt(d.get("odds_ratio"), ".2f") + _ci(d.get("or_ci_low"), d.get("or_ci_high"), ".2f")]
            cells += [neutral, removed] if nps else [removed]
        else:
            cells = [str(d["rank"]), f"{name or d['category']} {sign}".strip(), str(d["n_mentions"]),
                     _fmt(d["importance"]) + imp_ci, _fmt(d.get("odds_ratio"), ".2f"), neutral if nps else removed]
        t.add_row(*cells)
    return t


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    from voc.cli.main import friendly

    @app.command()
    @friendly
    def drivers(
        run_dir: Path = typer.Argument(..., help="A run folder written by 'voc run'."),
        outcome: str = typer.Option("nps", "--outcome", "-o",
                                    help="nps, promoter, detractor, csat, rating, ces, or a segment column."),
        by: Optional[str] = typer.Option(None, "--by", help="Segment name: analyse each of its values."),
        taxonomy: Optional[str] = typer.Option(None, "--taxonomy", "-t", help="Only this taxonomy."),
        method: str = typer.Option("all", "--method", "-m",
                                   help="all (ranked by Shapley), shapley, rw (relative weights) or logistic."),
        kind: Optional[str] = typer.Option(None, "--kind", help="Outcome kind: nps, csat, rating, ces, "
                                           "continuous, binary, promoter, detractor (guessed when omitted)."),
        positive: Optional[str] = typer.Option(None, "--positive", help="Binary string outcome: the value that "
                                               "counts as 1."),
        encoding: str = typer.Option("polarity", "--encoding",
                                     help="polarity (negative and positive mentions) or any (mentioned)."),
        boot: int = typer.Option(200, "--boot", help="Bootstrap resamples for the intervals (0 for none)."),
        seed: int = typer.Option(0, help="Random seed."),
        min_rows: int = typer.Option(30, "--min-rows", help="Fewest rows with an outcome to analyse a group."),
        top: int = typer.Option(0, "--top", help="Show only the top N drivers per table (0 for all)."),
        wide: Optional[bool] = typer.Option(None, "--wide/--compact",
                                            help="Every column (category keys, odds-ratio intervals, both NPS "
                                                 f"impacts) or a table for 80 columns; default: wide from "
                                                 f"{WIDE_FROM} columns."),
        as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    ):
        """Rank the drivers of an outcome (NPS, CSAT, ...) with importance, impact and confidence intervals."""
        from voc.analyze.driverstore import run_drivers
        from voc.cli.main import console, out_console

        with console.status(f"driver analysis of {outcome}", spinner="dots") if not as_json else _null():
            res = run_drivers(run_dir, outcome=outcome, by=by, taxonomy=taxonomy, kind=kind, positive=positive,
                              method=method, encoding=encoding, n_boot=boot, seed=seed, min_rows=min_rows)
        if as_json:
            sys.stdout.write(json.dumps(res, ensure_ascii=False, default=str) + "\n")
            return
        labels = _labels(run_dir)
        if wide is None:
            wide = out_console.width >= WIDE_FROM
        for r in res["results"]:
            out_console.print(drivers_table(r, labels, top, wide))
            for note in r["notes"]:
                console.print(f"[yellow]note:[/] {note}")
        first = res["results"][0]
        console.print("driver: category and − (negative) / + (positive) mentions; intervals in parentheses; "
                      f"importance: % of the model fit by {first['ranked_by']}"
                      + (f" ({first['shapley_method']})" if first.get("shapley_method") else "")
                      + (f"; OR: odds of {first['logistic_target']}" if first.get("logistic_target") else ""))
        if not wide:
            console.print("[dim]imp.: importance; OR: odds ratio; --wide adds category keys, OR intervals"
                          + (" and Δ if removed" if first["kind"] == "nps" else "") + "[/]")
        for d in first["impact_definitions"]:
            console.print(f"[dim]{d}[/]")
        for s in res["skipped"]:
            console.print(f"[yellow]skipped[/] {s['grouping']}={s['group']} ({s['taxonomy']}): {s['reason']}")
        console.print(f"{res['seconds']:.2f}s")

    @app.command()
    @friendly
    def trends(
        run_dir: Path = typer.Argument(..., help="A run folder written by 'voc run'."),
        period: str = typer.Option("month", "--period", "-p", help="month or week."),
        by: Optional[str] = typer.Option(None, "--by", help="Segment name: trends and alerts of each of its "
                                         "values, each against its own history."),
        as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    ):
        """Per-theme trends (volume, net sentiment, NPS) and the alerts for emerging issues."""
        from voc.analyze.trends import run_trends
        from voc.cli.main import console, out_console
        from rich.table import Table

        res = run_trends(run_dir, period, by=by)
        if as_json:
            sys.stdout.write(json.dumps(res, ensure_ascii=False, default=str) + "\n")
            return
        labels = _labels(run_dir)
        from rich import box

        t = Table(title=f"alerts · {period}{f' · by {by}' if by else ''} · {res['method']['summary']}",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        cols = ("period", by, "kind", "theme", "obs.", "exp.", "lift", "p") if by else \
            ("period", "kind", "theme", "obs.", "exp.", "lift", "p")
        for col in cols:  # only the theme wraps, so the table stays readable at 80 columns
            t.add_column(col, justify="left" if col in ("kind", "theme", by) else "right", no_wrap=col != "theme",
                         min_width=10 if col == "theme" else None, overflow="fold")
        for a in res["alerts"]:
            theme = a.get("phrase") or ""
            if a.get("category"):
                theme = f"{labels.get((a['taxonomy'], a['category']), a['category'])} {a['category']} {theme}".strip()
            cells = [a["period"], a["kind"], theme, _fmt(a["observed"], "g"), _fmt(a.get("expected"), ".1f"),
                     _fmt(a.get("lift"), ".2f"), _fmt(a.get("p_value"), ".2g")]
            if by:
                cells.insert(1, a["segment_value"])
            t.add_row(*cells)
        out_console.print(t)
        console.print(f"{len(res['alerts'])} alert(s) over {res['periods']} {period}(s); "
                      f"{res['themes']} theme(s)" + (f"; each value of {by} against its own history" if by else ""))


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
