"""Compute a run's analysis tables and store them next to the comments."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from voc.analyze.metrics import mean_ci, nps
from voc.analyze.sound import sound_indicators, top_keywords, top_phrases, verbatims

ANALYSIS_TABLES = ("sound", "phrases", "category_keywords", "verbatims")


def overview(con: duckdb.DuckDBPyConnection) -> dict:
    """Volume, quality mix, sentiment mix, NPS / CSAT / rating with 95% CIs, and the date range."""
    c = con.execute("SELECT quality, sentiment, nps, csat, rating, date FROM comments").df()
    ok = c[c["quality"] == "ok"]
    dates = c["date"].dropna()
    return {
        "comments": int(len(c)),
        "usable": int(len(ok)),
        "quality": {k: int(v) for k, v in c["quality"].value_counts().items()},
        "sentiment": {k: int(v) for k, v in c["sentiment"].value_counts().items()},
        "nps": nps(c["nps"]),
        "csat": mean_ci(c["csat"]),
        "rating": mean_ci(c["rating"]),
        "first_date": None if dates.empty else str(dates.min())[:10],
        "last_date": None if dates.empty else str(dates.max())[:10],
    }


def build_analysis(store: str | Path, parquet_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Compute the Sound tables of a run store and write them into it (and as Parquet when asked).

    Tables: ``sound`` (per category overall, per month and per segment), ``phrases`` (top opinion phrases),
    ``category_keywords`` and ``verbatims``.
    """
    con = duckdb.connect(str(store))
    try:
        tables = {
            "sound": sound_indicators(con),
            "phrases": top_phrases(con),
            "category_keywords": top_keywords(con),
            "verbatims": verbatims(con),
        }
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
