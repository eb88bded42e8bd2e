"""Compute a run's analysis tables and store them next to the comments."""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

import duckdb
import pandas as pd

from voc.analyze.metrics import mean_ci, nps, segment_scores
from voc.analyze.sound import segment_columns, sound_indicators, top_keywords, top_phrases, verbatims
from voc.store.store import connect

ANALYSIS_TABLES = ("sound", "phrases", "category_keywords", "verbatims", "theme_trends", "alerts", "drivers",
                   "driver_themes", "segment_scores")
DRIVER_BOOT = 100  # bootstrap resamples for the primary outcome's intervals in the stored driver tables


def overview(con: duckdb.DuckDBPyConnection) -> dict:
    """Volume, quality mix, sentiment mix, NPS / CSAT / CES / rating with 95% CIs, and the date range.

    The sentiment mix leaves out the ``empty`` rows (a score without text); the scores count every row.

    ``ces`` is present only when the store has a ``ces`` column. The comments are counted per distinct
    combination of these fields in DuckDB, so memory does not grow with the number of comments.
    """
    cols = {r[0] for r in con.execute("DESCRIBE comments").fetchall()}
    extra = ", ces" if "ces" in cols else ""
    c = con.execute(f"SELECT quality, sentiment, nps, csat, rating{extra}, count(*) AS weight FROM comments "
                    "GROUP BY ALL").df()
    first, last = con.execute("SELECT min(date), max(date) FROM comments").fetchall()[0]
    w = c["weight"].to_numpy(dtype=float)

    def mix(col: str, rows: pd.DataFrame = c) -> dict[str, int]:
        counts = rows.groupby(col)["weight"].sum().sort_values(ascending=False, kind="stable")
        return {k: int(v) for k, v in counts.items()}

    out = {
        "comments": int(w.sum()),
        "usable": int(c.loc[c["quality"] == "ok", "weight"].sum()),
        "quality": mix("quality"),
        "sentiment": mix("sentiment", c[c["quality"] != "empty"]),  # a score without text has no sentiment
        "nps": nps(c["nps"], w),
        "csat": mean_ci(c["csat"], w),
        "rating": mean_ci(c["rating"], w),
        "first_date": None if first is None else str(first)[:10],
        "last_date": None if last is None else str(last)[:10],
    }
    if "ces" in c:
        out["ces"] = mean_ci(c["ces"], w)
    return out


def score_frame(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, list[str]]:
    """Every comment's scores (the ones present), channel and segments, collapsed in DuckDB into their
    distinct combinations with a ``weight`` (comment count) column; and the grouping columns.

    A respondent's score counts whatever their comment says: a 默认好评 row's NPS is as valid as any, so
    these figures match :func:`overview`'s."""
    cols = [r[0] for r in con.execute("DESCRIBE comments").fetchall()]
    segs = segment_columns(con)
    keep = ", ".join(chr(34) + c + chr(34) for c in
                     [c for c in ("nps", "csat", "ces", "rating", "channel") if c in cols] + segs)
    frame = con.execute(f"SELECT {keep}, count(*) AS weight FROM comments GROUP BY ALL ORDER BY ALL").df()
    groupings = (["channel"] if "channel" in cols and frame["channel"].notna().any() else []) + segs
    return frame, groupings


def build_analysis(store: str | Path, parquet_dir: str | Path | None = None, trend_period: str = "month",
                   driver_boot: int = DRIVER_BOOT, executor: Executor | None = None) -> dict[str, pd.DataFrame]:
    """Compute the analysis tables of a run store and write them into it (and as Parquet when asked).

    Tables: ``sound`` (per category overall, per month and per segment), ``phrases`` (top opinion phrases),
    ``category_keywords``, ``verbatims``, ``theme_trends`` and ``alerts`` (per ``trend_period``: month or
    week; see :mod:`voc.analyze.trends`), ``drivers`` and ``driver_themes`` (every score outcome with at
    least 30 values, per taxonomy; the first of NPS, CSAT, rating, CES with ``driver_boot`` bootstrap
    resamples for its intervals, the others without; see :mod:`voc.analyze.drivers`) and ``segment_scores``
    (NPS, CSAT, CES, rating with 95% intervals overall, per channel and per segment value).

    ``executor``: a process pool (the pipeline's workers, idle by now) that computes the drivers, one job
    per outcome, while this process builds the other tables; the tables do not depend on it.
    """
    from voc.analyze.driverstore import finish_drivers, run_scales, start_drivers
    from voc.analyze.trends import alerts, theme_trends

    con = connect(store)
    try:
        scales = run_scales(Path(store))
        drivers = start_drivers(con, scales, ("nps", "csat", "rating", "ces"), n_boot=driver_boot,
                                boot_first_only=True, executor=executor)
        tables = {
            "sound": sound_indicators(con),
            "phrases": top_phrases(con),
            "category_keywords": top_keywords(con),
            "verbatims": verbatims(con),
        }
        tables["theme_trends"] = theme_trends(con, trend_period)
        tables["alerts"] = alerts(con, tables["theme_trends"], trend_period)
        frame, groupings = score_frame(con)
        tables["segment_scores"] = segment_scores(frame, groupings, scales, weight="weight")
        tables["drivers"], tables["driver_themes"] = finish_drivers(drivers)
        for name, df in tables.items():
            con.register("_df", df)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _df")
            con.unregister("_df")
            if parquet_dir is not None:
                con.execute(f"COPY {name} TO '{(Path(parquet_dir) / f'{name}.parquet').as_posix()}' (FORMAT PARQUET)")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return tables
