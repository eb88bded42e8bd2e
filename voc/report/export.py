"""Analyst exports of a run: an Excel workbook and UTF-8-BOM CSV files that open cleanly in Excel.

Workbook sheets
---------------
- ``概览 summary``: volume, quality and sentiment mix, NPS / CSAT / CES / rating with 95% CIs;
- ``主题 themes``: the Sound (心声) indicators of every category, overall;
- ``主题明细 by group``: the same per month and per segment value (filterable);
- ``驱动 drivers``: the store's ``drivers`` table, or a line saying that drivers were not computed;
- ``短语 phrases`` and ``精选原声 top verbatims``: drill-down tables;
- ``原声 verbatims``: every comment with its date, channel, segments, scores, sentiment and each taxonomy's
  ``category:polarity`` labels, as a filterable table (frozen header, autofilter).

Rows are streamed from DuckDB into openpyxl's write-only workbook (inline strings, one temporary file per
sheet), so memory stays bounded on large runs. Cells are safe for Excel: text that Excel would read as a
formula (``= + - @``) is written as text with a quote prefix, strings over Excel's 32,767-character limit
are cut with a note, characters XML cannot hold are dropped, and a sheet that would pass Excel's row limit
continues on a numbered sheet.
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb
import pandas as pd
import yaml

from voc.errors import InputError
from voc.store.store import STORE_NAME

EXCEL_MAX_CHARS = 32_767
EXCEL_MAX_ROWS = 1_048_576
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
POL_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}
SEGMENT_PREFIX = "seg_"
SCORE_COLS = ("nps", "csat", "ces", "rating")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BATCH = 5_000


# --------------------------------------------------------------------------------------------- the run


class Run:
    """A read-only view of a run folder: its store connection, configuration and taxonomies.

    Use as a context manager (``with open_run(path) as run:``); :func:`open_run` validates the folder.
    """

    def __init__(self, run_dir: Path, con: duckdb.DuckDBPyConnection):
        self.dir = run_dir
        self.con = con
        self.tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        self.columns = [r[0] for r in con.execute("DESCRIBE comments").fetchall()]
        optional = [c for c in ("date", "channel", "source", *SCORE_COLS) if c in self.columns]
        counts = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in optional) + " FROM comments").fetchone() \
            if optional else ()
        # the optional columns that hold a value (an unmapped score is stored as an all-null column)
        self.filled = {c for c, n in zip(optional, counts) if n}
        cfg_path = run_dir / "config.yaml"
        self.config = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
        self.taxonomy_names = [t["name"] for t in self.config.get("taxonomies") or []] or sorted(
            {r[0] for r in con.execute("SELECT DISTINCT taxonomy FROM mentions").fetchall()})
        self._drivers = None
        self.taxonomies = {}
        for t in self.config.get("taxonomies") or []:
            try:
                from voc.taxonomy.model import load_taxonomy

                self.taxonomies[t["name"]] = load_taxonomy(t.get("path") or t["name"])
            except Exception:  # a moved or edited taxonomy file: fall back to category keys
                continue

    @property
    def segments(self) -> list[str]:
        """The run's ``seg_*`` columns."""
        return [c for c in self.columns if c.startswith(SEGMENT_PREFIX)]

    def category_name(self, taxonomy: str, key: str) -> str:
        """The Chinese name of a category (its key when the taxonomy is unknown)."""
        tax = self.taxonomies.get(taxonomy)
        try:
            return tax.category(key).name if tax is not None else key
        except KeyError:
            return key

    def taxonomy_title(self, taxonomy: str) -> str:
        """A taxonomy's title (its name when unknown)."""
        tax = self.taxonomies.get(taxonomy)
        return (tax.title or taxonomy) if tax is not None else taxonomy

    def close(self) -> None:
        """Close the store connection."""
        self.con.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_run(run_dir: str | Path) -> Run:
    """Open a run folder written by ``voc run`` read-only, after checking it is one.

    Raises
    ------
    InputError
        When the folder does not exist, holds no voc store, or the store is unreadable or incomplete.
    """
    p = Path(run_dir)
    if not p.exists():
        raise InputError(f"run folder {p} does not exist; give a folder written by 'voc run'")
    store = p / STORE_NAME if p.is_dir() else p
    if not store.is_file():
        raise InputError(f"{p} is not a voc run (it has no {STORE_NAME}); give a folder written by 'voc run'")
    try:
        con = duckdb.connect(str(store), read_only=True)
    except duckdb.Error as e:
        msg = str(e).splitlines()[0]
        if "lock" in msg.lower():
            raise InputError(f"{store} is open for writing in another process; wait for it to finish") from None
        raise InputError(f"{store} is not a readable voc store ({msg[:120]}); re-run 'voc run'") from None
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if not {"comments", "mentions"} <= tables:
        con.close()
        raise InputError(f"{store} has no comments/mentions tables, so it is not a voc run; re-run 'voc run'")
    return Run(store.parent, con)


# ------------------------------------------------------------------------------------------ the tables


def overview_rows(run: Run) -> list[list]:
    """The summary sheet: ``[metric, value, ci_low, ci_high, n, note]`` rows."""
    from voc.analyze.build import overview
    from voc.analyze.metrics import mean_ci

    ov = overview(run.con)
    if "ces" in run.columns and "ces" not in ov:
        ov["ces"] = mean_ci(run.con.execute("SELECT ces FROM comments").df()["ces"])
    rows: list[list] = [["运行 run", run.config.get("name") or run.dir.name, None, None, None, str(run.dir)]]
    if ov.get("first_date"):
        rows.append(["时间范围 period", f"{ov['first_date']} → {ov['last_date']}", None, None, None, ""])
    total = ov["comments"] or 1
    rows.append(["评论数 comments", ov["comments"], None, None, None, "rows stored (after quarantine)"])
    rows.append(["可用评论 usable", ov["usable"], None, None, None, "quality = ok; Sound shares use this base"])
    for q, n in sorted(ov["quality"].items(), key=lambda kv: -kv[1]):
        rows.append([f"质量 quality: {q}", n, None, None, None, f"{100 * n / total:.1f}%"])
    with_text = sum(ov["sentiment"].values()) or 1  # the mix leaves out scores given without text
    for pol in ("positive", "neutral", "negative"):
        n = ov["sentiment"].get(pol, 0)
        rows.append([f"情感 {POL_ZH[pol]} {pol}", n, None, None, None, f"{100 * n / with_text:.1f}%"])
    labels = {"nps": ("NPS 净推荐值", "promoters 9-10 − detractors 0-6, in points; 95% CI"),
              "csat": ("CSAT 满意度", "mean; 95% t-interval"), "ces": ("CES 费力度", "mean; 95% t-interval"),
              "rating": ("星级 rating", "mean; 95% t-interval")}
    for key, (label, note) in labels.items():
        m = ov.get(key)
        if not m or not m.get("n"):
            continue
        value = m.get("nps", m.get("mean"))
        if key == "nps":
            note += f"; promoters {m['promoters']}, passives {m['passives']}, detractors {m['detractors']}"
        rows.append([label, value, m.get("ci_low"), m.get("ci_high"), m["n"], note])
    d, _, note = drivers_tables_of(run)
    rows.append(["驱动因素 drivers", "not computed" if d is None else ", ".join(dict.fromkeys(d["outcome"])),
                 None, None, None, note if d is None else f"{note}; see the drivers sheet"])
    from voc import __version__

    rows.append(["导出 exported", datetime.now().strftime("%Y-%m-%d %H:%M"), None, None, None, f"voc {__version__}"])
    return rows


def _sound(run: Run) -> pd.DataFrame:
    if "sound" in run.tables:
        return run.con.execute("SELECT * FROM sound").df()
    from voc.analyze.sound import sound_indicators  # an older store: compute it on the fly

    return sound_indicators(run.con)


def _labelled(run: Run, df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.insert(df.columns.get_loc("category") + 1, "category_name",
              [run.category_name(t, c) for t, c in zip(df["taxonomy"], df["category"])])
    df.insert(df.columns.get_loc("taxonomy") + 1, "taxonomy_title", [run.taxonomy_title(t) for t in df["taxonomy"]])
    return df


def themes_table(run: Run, grouping: str | None = "all") -> pd.DataFrame:
    """Sound indicators with category names: one row per category (``grouping='all'``), or per group.

    ``grouping=None`` returns every grouping except ``all`` (months and segment values).
    Adds ``label`` (``名称 key``), ``taxonomy_title`` and ``nps_gap`` (NPS of mentioners − of the others).
    """
    s = _sound(run)
    s = s[s["grouping"] == grouping] if grouping else s[s["grouping"] != "all"]
    s = _labelled(run, s)
    s["label"] = [n if n == k else f"{n} {k}" for n, k in zip(s["category_name"], s["category"])]
    s["nps_gap"] = (s["nps"] - s["nps_others"]).round(2)
    # a score the run has no values of gets no columns (they would be empty)
    s = s.drop(columns=[c for x in SCORE_COLS if x not in run.filled
                        for c in ((x, "nps_others", "nps_gap", "nps_n") if x == "nps" else
                                  (f"{x}_mean", f"{x}_others", f"{x}_n")) if c in s.columns])
    order = {t: i for i, t in enumerate(run.taxonomy_names)}
    s["_t"] = s["taxonomy"].map(order).fillna(len(order))
    keys = ["_t", "grouping", "group", "volume"] if grouping is None else ["_t", "volume"]
    s = s.sort_values(keys, ascending=[True] * (len(keys) - 1) + [False], kind="stable")
    return s.drop(columns="_t").reset_index(drop=True)


LABELS = {
    "taxonomy": "体系 taxonomy", "taxonomy_title": "体系名称", "category": "类别 key", "category_name": "类别 category",
    "polarity": "极性 polarity", "phrase": "短语 phrase", "n": "次数 n", "comment_id": "编号 id", "text": "原文 text",
    "date": "日期 date", "score": "置信度 score", "keyword": "关键词 keyword", "period_type": "周期 period type",
    "period": "周期 period", "kind": "类型 kind", "observed": "实际 observed", "expected": "预期 expected",
    "lift": "倍数 lift", "message": "说明 message",
}

THEME_COLUMNS = {
    "taxonomy": "体系 taxonomy", "taxonomy_title": "体系名称", "stage": "阶段 stage", "category": "类别 key",
    "category_name": "类别 category", "volume": "提及 volume", "share": "占比 share", "positive": "正面 positive",
    "neutral": "中性 neutral", "negative": "负面 negative", "net_sentiment": "净情感 net sentiment",
    "nps_n": "NPS n", "nps": "提及者NPS NPS of mentioners", "nps_others": "未提及者NPS NPS of others",
    "nps_gap": "NPS差 gap",
    **{f"{x}{suffix}": f"{zh}{label} {x.upper()}{en}" for x, zh in (("csat", "满意度"), ("rating", "星级"), ("ces", "费力度"))
       for suffix, label, en in (("_mean", "（提及者）", " of mentioners"), ("_others", "（未提及者）", " of others"),
                                 ("_n", " n", " n"))},
}


DRIVER_COLUMNS = {
    "outcome": "结果指标 outcome", "metric": "指标 metric", "metric_value": "当前值 value", "n": "样本 n",
    "r2": "R²", "taxonomy": "体系 taxonomy", "rank": "排名 rank", "driver": "驱动因素 driver",
    "category": "类别 key", "category_name": "类别 category", "polarity": "极性 polarity",
    "n_mentions": "提及 mentions", "share": "占比 share", "importance": "重要性 importance (% of R²)",
    "shapley_pct_ci_low": "重要性 CI 下限 low", "shapley_pct_ci_high": "重要性 CI 上限 high",
    "odds_ratio": "优势比 odds ratio", "or_ci_low": "OR CI 下限 low", "or_ci_high": "OR CI 上限 high",
    "p_value": "p", "impact_neutral": "影响 impact if neutral", "impact_neutral_ci_low": "impact_neutral CI low",
    "impact_neutral_ci_high": "impact_neutral CI high", "impact_removed": "影响 impact if removed",
    "impact_removed_ci_low": "impact_removed CI low", "impact_removed_ci_high": "impact_removed CI high",
    "corr": "相关 corr", "shapley_method": "方法 method",
}
DRIVER_THEME_COLUMNS = {
    "outcome": "结果指标 outcome", "metric": "指标 metric", "metric_value": "当前值 value", "n": "样本 n",
    "taxonomy": "体系 taxonomy", "category": "类别 key", "category_name": "类别 category",
    "importance": "重要性 importance", "importance_negative": "负面重要性 negative",
    "importance_positive": "正面重要性 positive", "volume": "提及 volume", "share": "占比 share",
    "net_sentiment": "净情感 net sentiment", "mentioners_metric": "提及者指标 mentioners",
    "others_metric": "未提及者指标 others", "quadrant": "象限 quadrant",
}


def drivers_tables_of(run: Run) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str]:
    """The run's driver tables ``(drivers, driver_themes, note)``.

    Read from the store's ``drivers``/``driver_themes`` tables; for a store without them, computed now with
    :func:`voc.analyze.driverstore.drivers_tables` (no bootstrap intervals). ``drivers`` is None when no
    driver analysis is possible, and ``note`` says why.
    """
    if run._drivers is None:
        run._drivers = _drivers_tables(run)
    return run._drivers


def _drivers_tables(run: Run) -> tuple[pd.DataFrame | None, pd.DataFrame | None, str]:
    if "drivers" in run.tables:
        d = run.con.execute("SELECT * FROM drivers").df()
        t = run.con.execute("SELECT * FROM driver_themes").df() if "driver_themes" in run.tables else None
        note = "from the run's store"
    else:
        try:
            from voc.analyze.driverstore import drivers_tables, run_scales
        except ImportError:  # pragma: no cover (a voc without driver analysis)
            return None, None, "this voc has no driver analysis"
        try:
            d, t = drivers_tables(run.con, run_scales(run.dir / STORE_NAME), n_boot=0)
        except InputError as e:
            return None, None, str(e)
        note = "computed at export (the store has no drivers table); no bootstrap intervals"
    if d.empty or "rank" not in d:
        return None, None, "no score (NPS, CSAT, rating, CES) has the 30 values driver analysis needs"
    d = _labelled(run, d)
    d["driver"] = [f"{n} {POL_ZH.get(p, p)}" for n, p in zip(d["category_name"], d["polarity"])]
    if t is not None and not t.empty:
        t = _labelled(run, t)
    return d, (t if t is not None and not t.empty else None), note


def verbatim_columns(run: Run) -> tuple[list[str], list[str]]:
    """SQL select expressions and header names of the verbatims table."""
    sel, head = [], []

    def add(expr, name):
        sel.append(expr)
        head.append(name)

    for col, name in (("id", "编号 id"), ("date", "日期 date"), ("channel", "渠道 channel"), ("source", "来源 source")):
        if col == "id" or col in run.filled:
            add(f'"{col}"', name)
    for seg in run.segments:
        add(f'"{seg}"', seg[len(SEGMENT_PREFIX):])
    for col in SCORE_COLS:
        if col in run.filled:
            add(f'"{col}"', col.upper() if col != "rating" else "星级 rating")
    add('"quality"', "质量 quality")
    add('"sentiment"', "情感 sentiment")
    add('round("p_positive", 3)', "p_positive")
    add('round("p_negative", 3)', "p_negative")
    add('"text"', "原文 text")
    for tax in run.taxonomy_names:
        if tax in run.columns:
            add(f'"{tax}"', f"{tax} (category:polarity)")
            add(f'"{tax}"', f"{run.taxonomy_title(tax)} 类别:极性")
    if "keywords" in run.columns:
        add("array_to_string(keywords, ' ')", "关键词 keywords")
    return sel, head


def _zh_labels(run: Run, tax: str, labels: str | None) -> str | None:
    if not labels:
        return labels
    out = []
    for part in labels.split(";"):
        key, _, pol = part.partition(":")
        out.append(f"{run.category_name(tax, key)}:{POL_ZH.get(pol, pol)}")
    return "; ".join(out)


def iter_verbatims(run: Run) -> tuple[list[str], Iterator[tuple]]:
    """Header and a row iterator over every comment (store order), fetched in batches."""
    sel, head = verbatim_columns(run)
    zh_cols = [i for i, h in enumerate(head) if h.endswith(" 类别:极性")]
    zh_tax = {i: run.taxonomy_names[n] for n, i in enumerate(zh_cols)}

    def rows():
        cur = run.con.cursor()
        try:
            cur.execute(f"SELECT {', '.join(sel)} FROM comments")
            while batch := cur.fetchmany(_BATCH):
                for r in batch:
                    if zh_tax:
                        r = list(r)
                        for i, tax in zh_tax.items():
                            r[i] = _zh_labels(run, tax, r[i])
                    yield r
        finally:
            cur.close()

    return head, rows()


# --------------------------------------------------------------------------------------------- sheets


@dataclass
class Sheet:
    """One table to export: a sheet of the workbook and a CSV file."""

    key: str  # CSV file stem
    title: str  # sheet name (<= 31 characters)
    header: list[str]
    rows: Iterable
    formats: dict[int, str] = field(default_factory=dict)  # column index → Excel number format
    freeze: str = "A2"  # "" for no frozen header and no autofilter


def _frame_sheet(key: str, title: str, df: pd.DataFrame, columns: dict[str, str] | None = None,
                 formats: dict[str, str] | None = None, freeze: str = "A2") -> Sheet:
    if columns:
        df = df[[c for c in columns if c in df.columns]]
        header = [columns[c] for c in df.columns]
    else:
        header = [LABELS.get(c, c) for c in df.columns]
    formats = {**{c: "0.00" for c in df.columns if df[c].dtype.kind == "f"}, **(formats or {})}
    fmts = {list(df.columns).index(c): f for c, f in formats.items() if c in df.columns}
    return Sheet(key, title, header, df.itertuples(index=False, name=None), fmts, freeze)


def run_sheets(run: Run) -> list[Sheet]:
    """Every table of the export, in sheet order; the verbatims rows are a lazy iterator."""
    sheets = [Sheet("summary", "概览 summary", ["指标 metric", "值 value", "95% CI 下限 low", "95% CI 上限 high",
                                                "n", "说明 note"], overview_rows(run), {1: "#,##0.###"})]
    pct = {"share": "0.0%"}
    sheets.append(_frame_sheet("themes", "主题 themes", themes_table(run), THEME_COLUMNS, pct, "F2"))
    by_group = themes_table(run, None)
    cols = {"grouping": "分组 grouping", "group": "组 group", **THEME_COLUMNS}
    sheets.append(_frame_sheet("themes_by_group", "主题明细 by group", by_group, cols, pct, "G2"))
    drivers, dthemes, note = drivers_tables_of(run)
    if drivers is None:
        sheets.append(Sheet("drivers", "驱动 drivers", ["说明 note"], [
            ["未计算驱动因素 Drivers were not computed for this run: " + note + "."],
            ["Driver analysis needs at least 30 comments with a score (NPS, CSAT, rating or CES) and "
             "categories mentioned in at least 5 of them; see 'voc drivers --help'."]], freeze=""))
    else:
        sheets.append(_frame_sheet("drivers", "驱动 drivers", drivers, DRIVER_COLUMNS,
                                   {"share": "0.0%", "p_value": "0.0000"}, "I2"))
        if dthemes is not None:
            sheets.append(_frame_sheet("driver_themes", "驱动主题 driver themes", dthemes, DRIVER_THEME_COLUMNS,
                                       {"share": "0.0%"}, "H2"))
    if "alerts" in run.tables:
        al = run.con.execute("SELECT * FROM alerts").df()
        if len(al):
            sheets.append(_frame_sheet("alerts", "预警 alerts", al))
    if "phrases" in run.tables:
        ph = _labelled(run, run.con.execute("SELECT * FROM phrases").df())
        sheets.append(_frame_sheet("phrases", "短语 phrases", ph))
    if "verbatims" in run.tables:
        tv = _labelled(run, run.con.execute("SELECT * FROM verbatims").df())
        sheets.append(_frame_sheet("top_verbatims", "精选原声 top verbatims", tv,
                                   formats={"date": "yyyy-mm-dd hh:mm", "score": "0.000"}))
    head, rows = iter_verbatims(run)
    fmts = {i: "yyyy-mm-dd hh:mm" for i, h in enumerate(head) if h == "日期 date"}
    sheets.append(Sheet("verbatims", "原声 verbatims", head, rows, fmts, "B2"))
    return sheets


# ---------------------------------------------------------------------------------------- cell safety


@dataclass
class CellStats:
    """What the writers changed to keep cells safe."""

    truncated: int = 0  # strings cut to Excel's limit
    guarded: int = 0  # strings that would have been read as formulas
    cleaned: int = 0  # strings with control characters removed


def _plain(v: Any) -> Any:
    """Python scalar for a DuckDB/pandas/numpy value (None for missing)."""
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.to_pydatetime()
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalar
        v = v.item()
        return None if isinstance(v, float) and math.isnan(v) else v
    if v is pd.NaT:
        return None
    return v


def safe_text(s: str, stats: CellStats, limit: int = EXCEL_MAX_CHARS) -> str:
    """Drop XML-illegal control characters and cut to ``limit`` characters with a note."""
    if _ILLEGAL.search(s):
        s = _ILLEGAL.sub("", s)
        stats.cleaned += 1
    if len(s) > limit:
        note = f" …[已截断 truncated: {len(s):,} characters]"
        s = s[: limit - len(note)] + note
        stats.truncated += 1
    return s


# -------------------------------------------------------------------------------------------- writers


def _display_width(v: Any) -> int:
    s = v.strftime("%Y-%m-%d %H:%M") if isinstance(v, (datetime, date)) else str(v)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s[:200])


class _XlsxWriter:
    """Streams :class:`Sheet` tables into a write-only openpyxl workbook."""

    def __init__(self):
        from openpyxl import Workbook
        from openpyxl.styles import Font, PatternFill

        self.wb = Workbook(write_only=True)
        self.stats = CellStats()
        self.header_font = Font(bold=True, color="FFFFFF")
        self.header_fill = PatternFill("solid", fgColor="1F3A5F")
        self.rows: dict[str, int] = {}

    def _cell(self, ws, value, fmt: str | None = None):
        from openpyxl.cell import WriteOnlyCell

        v = _plain(value)
        if v is None:
            return None
        if isinstance(v, str):
            v = safe_text(v, self.stats)
            if v.startswith(FORMULA_PREFIXES):
                c = WriteOnlyCell(ws, value=v)
                c.data_type = "s"  # text, never a formula
                c.quotePrefix = True  # and Excel keeps it text when the cell is edited
                self.stats.guarded += 1
                return c
            return v
        if fmt and isinstance(v, (int, float, datetime, date)):
            c = WriteOnlyCell(ws, value=v)
            c.number_format = fmt
            return c
        return v

    def _new_sheet(self, sheet: Sheet, part: int, widths: list[float]):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.utils import get_column_letter

        title = sheet.title if part == 1 else f"{sheet.title[:27]} {part}"
        ws = self.wb.create_sheet(title)
        for i, w in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = w
        if sheet.freeze:
            ws.freeze_panes = sheet.freeze
        head = []
        for h in sheet.header:
            c = WriteOnlyCell(ws, value=safe_text(str(h), self.stats))
            c.data_type = "s"  # a header is text, whatever it starts with
            c.font, c.fill = self.header_font, self.header_fill
            head.append(c)
        ws.append(head)
        return ws

    def add(self, sheet: Sheet) -> int:
        """Write one table (continuing on numbered sheets past Excel's row limit); returns its data rows."""
        from openpyxl.utils import get_column_letter

        rows = iter(sheet.rows)
        sample = [r for _, r in zip(range(200), rows)]
        widths = []
        for i, h in enumerate(sheet.header):
            w = max([_display_width(h)] + [_display_width(_plain(r[i])) for r in sample
                                           if i < len(r) and _plain(r[i]) is not None])
            widths.append(min(max(w + 3, 8), 80 if "text" in h else 48))
        ncol, total, part, n = len(sheet.header), 0, 0, EXCEL_MAX_ROWS

        def all_rows():
            yield from sample
            yield from rows

        ws = None
        for r in all_rows():
            if n >= EXCEL_MAX_ROWS - 1:
                if ws is not None and sheet.freeze:
                    ws.auto_filter.ref = f"A1:{get_column_letter(ncol)}{n + 1}"
                part += 1
                ws, n = self._new_sheet(sheet, part, widths), 0
            ws.append([self._cell(ws, v, sheet.formats.get(i)) for i, v in enumerate(r)])
            n += 1
            total += 1
        if ws is None:
            ws = self._new_sheet(sheet, 1, widths)
        if sheet.freeze:
            ws.auto_filter.ref = f"A1:{get_column_letter(ncol)}{n + 1}"
        self.rows[sheet.key] = total
        return total

    def save(self, path: Path) -> None:
        self.wb.save(str(path))


def _atomic(path: Path, suffix: str) -> Path:
    """A temporary path next to ``path`` (renamed onto it by the caller when complete)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{suffix}")


def _check_out(path: Path, suffix: str | None) -> Path:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name such as {path / ('export' + (suffix or '.png'))}")
    if suffix and path.suffix.lower() != suffix:
        raise InputError(f"{path} must end in {suffix} (Excel opens workbooks by extension); e.g. --xlsx report.xlsx")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {path.parent} ({e.strerror}); choose another output path") from None
    return path


def write_xlsx(run: Run, path: str | Path) -> tuple[dict[str, int], CellStats]:
    """Write the run's workbook to ``path`` (atomically); returns data rows per sheet and the cell stats."""
    path = _check_out(Path(path), ".xlsx")
    w = _XlsxWriter()
    for sheet in run_sheets(run):
        w.add(sheet)
    tmp = _atomic(path, ".xlsx")
    try:
        w.save(tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write {path} ({e.strerror}); is it open in Excel?") from None
    finally:
        tmp.unlink(missing_ok=True)
    return w.rows, w.stats


def csv_value(v: Any, stats: CellStats) -> Any:
    """A CSV field that Excel shows as written: formula-like text gets a leading apostrophe (OWASP)."""
    v = _plain(v)
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, str):
        if _ILLEGAL.search(v):
            v = _ILLEGAL.sub("", v)
            stats.cleaned += 1
        if v.startswith(FORMULA_PREFIXES):
            stats.guarded += 1
            return "'" + v
    return v


def write_csvs(run: Run, out_dir: str | Path) -> tuple[list[Path], CellStats]:
    """Write one UTF-8-with-BOM CSV per table into ``out_dir``; returns the files and the cell stats."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--csv {out} is a file; give a folder for the CSV files")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create {out} ({e.strerror}); choose another folder") from None
    stats, files = CellStats(), []
    for sheet in run_sheets(run):
        path = out / f"{sheet.key}.csv"
        tmp = _atomic(path, ".csv")
        try:
            with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
                w = csv.writer(f)
                w.writerow([csv_value(h, stats) for h in sheet.header])
                for r in sheet.rows:
                    w.writerow([csv_value(v, stats) for v in r])
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        files.append(path)
    return files, stats


# ------------------------------------------------------------------------------------------ entry point


@dataclass
class ExportResult:
    """What :func:`export_run` wrote."""

    xlsx: str | None = None
    xlsx_bytes: int = 0
    sheet_rows: dict[str, int] = field(default_factory=dict)
    csv_files: list[str] = field(default_factory=list)
    chart: str | None = None
    truncated: int = 0
    guarded: int = 0
    seconds: float = 0.0


def export_run(run_dir: str | Path, xlsx: str | Path | None = None, csv_dir: str | Path | None = None,
               chart: str | Path | None = None) -> ExportResult:
    """Export a run for analysts: an Excel workbook, UTF-8-BOM CSV files and/or a PNG theme chart.

    Parameters
    ----------
    run_dir : a folder written by ``voc run``.
    xlsx : workbook path (``.xlsx``).
    csv_dir : folder for one CSV per table (UTF-8 with BOM, so Excel shows Chinese correctly).
    chart : image path for :func:`voc.report.charts.save_theme_chart` (PNG; SVG/PDF by extension).

    Raises
    ------
    InputError
        When nothing is asked for, the run folder is not a voc run, or an output cannot be written.
    """
    if xlsx is None and csv_dir is None and chart is None:
        raise InputError("nothing to export; give --xlsx FILE, --csv DIR and/or --chart FILE")
    t0 = time.perf_counter()
    res = ExportResult()
    with open_run(run_dir) as run:
        if xlsx is not None:
            rows, st = write_xlsx(run, xlsx)
            res.xlsx, res.xlsx_bytes, res.sheet_rows = str(xlsx), Path(xlsx).stat().st_size, rows
            res.truncated += st.truncated
            res.guarded += st.guarded
        if csv_dir is not None:
            files, st = write_csvs(run, csv_dir)
            res.csv_files = [str(f) for f in files]
            res.guarded += st.guarded
    if chart is not None:
        from voc.report.charts import save_theme_chart

        _check_out(Path(chart), None)
        res.chart = str(save_theme_chart(run_dir, chart))
    res.seconds = round(time.perf_counter() - t0, 3)
    return res
