"""Driver analysis of a run: the comment × category-polarity frame from the store, per taxonomy and segment.

One row per usable comment (``quality = 'ok'``) with its scores, segments and, for every category that
is mentioned, the 0/1 columns ``neg:<taxonomy>/<key>``, ``pos:<taxonomy>/<key>`` and ``any:<taxonomy>/<key>``
(see :mod:`voc.analyze.drivers` for why negative and positive mentions are separate drivers).
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, Future
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from voc.analyze.drivers import METHODS, driver_analysis
from voc.errors import InputError

SCORES = ("nps", "csat", "rating", "ces")
ENCODINGS = ("polarity", "any")
POLS = ("negative", "neutral", "positive")


# distinct mentions of usable comments, shared by both driver-frame loaders
_USABLE_MENTIONS = """SELECT DISTINCT m.comment_id, m.taxonomy, m.category, m.polarity FROM mentions m
                      SEMI JOIN comments c ON c.id = m.comment_id AND c.quality = 'ok'
                      WHERE m.taxonomy IS NOT NULL AND m.category IS NOT NULL"""
# indicator column prefix -> the polarities that set it
_INDICATORS = (("neg", ("negative",)), ("pos", ("positive",)), ("any", POLS))


def _columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("DESCRIBE comments").fetchall()]


def _categories(con: duckdb.DuckDBPyConnection, encoding: str = "polarity"
                ) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Mentioned (taxonomy, category) pairs, by taxonomy and descending volume, and each taxonomy's driver
    columns for ``encoding``."""
    order = [(t, c) for t, c, _ in con.execute(
        f"""SELECT taxonomy, category, count(DISTINCT comment_id) AS n FROM ({_USABLE_MENTIONS}) d
            GROUP BY taxonomy, category ORDER BY taxonomy, n DESC, category""").fetchall()]
    shorts = ("any",) if encoding == "any" else ("neg", "pos")
    features: dict[str, list[str]] = {}
    for tax, cat in order:
        features.setdefault(tax, []).extend(f"{short}:{tax}/{cat}" for short in shorts)
    return order, features


def load_driver_frame(con: duckdb.DuckDBPyConnection, encoding: str = "polarity"
                      ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The driver frame of a store and the driver columns of each taxonomy.

    Parameters
    ----------
    con : connection to a run store.
    encoding : ``polarity`` (drivers ``neg:``/``pos:`` per category) or ``any`` (``any:``, mentioned at all).

    Returns
    -------
    frame : one row per usable comment: ``id``, ``date``, ``channel``, the score columns present
        (``nps``, ``csat``, ``rating``, ``ces``), the ``seg_*`` columns and the indicator columns.
    features : taxonomy → its driver columns, categories by descending volume.
    """
    if encoding not in ENCODINGS:
        raise InputError(f"unknown driver encoding {encoding!r}; use polarity or any")
    cols = _columns(con)
    keep = [c for c in ("id", "date", "channel", *SCORES) if c in cols] + [c for c in cols if c.startswith("seg_")]
    frame = con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in keep)} FROM comments "
                        "WHERE quality = 'ok'").df()
    m = con.execute(_USABLE_MENTIONS).df()
    if m.empty:
        return frame, {}
    order, features = _categories(con, encoding)
    # a mention marks every usable row with its comment id (ids from the input need not be unique)
    m = m.merge(pd.DataFrame({"comment_id": frame["id"].to_numpy(), "_row": np.arange(len(frame))}),
                on="comment_id")
    rows = m["_row"].to_numpy()
    groups = m.groupby(["taxonomy", "category", "polarity"]).indices
    new = {}
    for tax, cat in order:
        for short, pols in _INDICATORS:
            col = np.zeros(len(frame), dtype=np.int8)
            for pol in pols:
                idx = groups.get((tax, cat, pol))
                if idx is not None:
                    col[rows[idx]] = 1
            new[f"{short}:{tax}/{cat}"] = col
    frame = pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)
    return frame, features


def load_driver_patterns(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The driver frame of :func:`load_driver_frame` (``polarity`` encoding) collapsed: one row per distinct
    combination of scores and indicators, with its number of comments in ``weight``.

    DuckDB groups the comments by their scores and a narrow key (the sorted codes of the indicators they
    set), so the grouping spills to disk under the store's memory cap; only the distinct patterns are
    expanded into indicator columns here. The stored driver tables need nothing else, and
    :func:`voc.analyze.drivers.driver_analysis` with ``weight="weight"`` gives the same results as on the
    full frame.
    """
    cols = _columns(con)
    scores = [c for c in SCORES if c in cols]
    order, features = _categories(con)
    cats = pd.DataFrame({"j": np.arange(len(order), dtype=np.int64), "taxonomy": [o[0] for o in order],
                         "category": [o[1] for o in order]})
    con.register("_driver_cats", cats)
    try:
        # code 3j: negative mention of category j, 3j+1: positive, 3j+2: any mention
        sel = ", ".join([f"c.{c}" for c in scores] + ["coalesce(k.key, '') AS key"])
        frame = con.execute(f"""
            WITH d AS ({_USABLE_MENTIONS}),
            codes AS (
              SELECT d.comment_id, k.j * 3 + CASE d.polarity WHEN 'negative' THEN 0 ELSE 1 END AS code
              FROM d JOIN _driver_cats k ON k.taxonomy = d.taxonomy AND k.category = d.category
              WHERE d.polarity IN ('negative', 'positive')
              UNION ALL
              SELECT d.comment_id, k.j * 3 + 2 FROM d
              JOIN _driver_cats k ON k.taxonomy = d.taxonomy AND k.category = d.category
              WHERE d.polarity IN ('negative', 'neutral', 'positive')),
            keys AS (SELECT comment_id, array_to_string(list_sort(list_distinct(list(code))), ',') AS key
                     FROM codes GROUP BY comment_id)
            SELECT {sel}, count(*) AS weight
            FROM (SELECT * FROM comments WHERE quality = 'ok') c LEFT JOIN keys k ON k.comment_id = c.id
            GROUP BY ALL ORDER BY ALL""").df()
    finally:
        con.unregister("_driver_cats")
    ind = np.zeros((len(frame), 3 * len(order)), dtype=np.int8)
    for r, key in enumerate(frame.pop("key").tolist()):
        if key:
            ind[r, [int(c) for c in key.split(",")]] = 1
    names = [f"{short}:{tax}/{cat}" for tax, cat in order for short, _ in _INDICATORS]
    weight = frame.pop("weight").astype(np.int64)
    frame = pd.concat([frame, pd.DataFrame(ind, columns=names, index=frame.index)], axis=1)
    frame["weight"] = weight
    return frame, features


def run_scales(store: Path) -> dict[str, tuple[float, float]]:
    """Score scales from the run's ``config.yaml`` (next to the store), else the defaults."""
    scales = {"nps": (0, 10), "csat": (1, 5), "rating": (1, 5), "ces": (1, 7)}
    cfg = Path(store).parent / "config.yaml"
    if cfg.is_file():
        inp = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("input", {}) or {}
        for k in scales:
            v = inp.get(f"{k}_scale")
            if isinstance(v, (list, tuple)) and len(v) == 2:
                scales[k] = (float(v[0]), float(v[1]))
    return scales


def run_drivers(run_dir: str | Path, outcome: str = "nps", by: str | None = None, taxonomy: str | None = None,
                kind: str | None = None, positive: str | None = None, method: str = "all",
                encoding: str = "polarity", n_boot: int = 200, seed: int = 0, min_rows: int = 30,
                min_count: int = 5) -> dict:
    """Driver analysis of a run folder, per taxonomy, overall or per value of a segment.

    Parameters
    ----------
    run_dir : a folder written by ``voc run`` (or its ``voc.duckdb``).
    outcome : ``nps``, ``promoter``, ``detractor``, ``csat``, ``rating``, ``ces`` or a segment column.
    by : a segment name (``city`` or ``seg_city``) to analyse each of its values separately.
    taxonomy : only this taxonomy (default: each taxonomy of the run separately).
    kind, positive : see :func:`voc.analyze.drivers.resolve_outcome`.
    method : ``all`` (ranked by Shapley) or one of ``shapley``, ``relative_weights``/``rw``, ``logistic``.
    encoding : ``polarity`` or ``any`` (see :func:`load_driver_frame`).
    n_boot, seed, min_rows, min_count : see :func:`voc.analyze.drivers.driver_analysis`.

    Returns
    -------
    dict (JSON-ready): ``run``, ``outcome``, ``by``, ``results`` (one per taxonomy × group, each with its
    ``drivers`` and ``themes``), ``skipped`` (groups with too few rows) and ``seconds``.
    """
    from voc.store.query import store_path

    t0 = time.perf_counter()
    store = store_path(run_dir)
    methods = METHODS if method == "all" else (method,)
    con = duckdb.connect(str(store), read_only=True)
    try:
        frame, features = load_driver_frame(con, encoding)
    finally:
        con.close()
    if not features:
        raise InputError(f"the run at {run_dir} has no category mentions, so there are no drivers to rank")
    if taxonomy is not None:
        if taxonomy not in features:
            raise InputError(f"taxonomy {taxonomy!r} is not in this run; it has {', '.join(features)}")
        features = {taxonomy: features[taxonomy]}
    base = {"promoter": "nps", "detractor": "nps"}.get(outcome, outcome)
    if base in SCORES and (base not in frame.columns or frame[base].notna().sum() == 0):
        have = [o for o in SCORES if o in frame.columns and frame[o].notna().any()]
        raise InputError(f"this run has no {base} values (the input mapped no {base} column, or none of its "
                         f"values was valid); " + (f"try --outcome {' or '.join(have)}" if have else
                                                   "it has no scores at all, so no outcome to drive"))
    scale = run_scales(store).get(outcome if outcome in SCORES else "")
    groups = [("all", "all", frame)]
    skipped = []
    if by is not None:
        col = by if by in frame.columns and by.startswith("seg_") else f"seg_{by}"
        if col not in frame.columns:
            segs = [c[4:] for c in frame.columns if c.startswith("seg_")]
            raise InputError(f"segment {by!r} is not in this run; its segments are: {', '.join(segs) or 'none'}")
        groups = [(col, str(v), g) for v, g in frame.groupby(col, sort=True)]
    results = []
    for grouping, group, g in groups:
        for tax, feats in features.items():
            kw = dict(kind=kind, scale=scale, positive=positive, methods=methods, n_boot=n_boot, seed=seed,
                      min_rows=min_rows, min_count=min_count)
            try:
                r = driver_analysis(g, outcome, feats, **kw)
            except InputError as e:
                if by is None or "rows have a value" not in str(e) and "no driver is present" not in str(e):
                    raise
                skipped.append({"grouping": grouping, "group": group, "taxonomy": tax, "reason": str(e)})
                continue
            results.append({"taxonomy": tax, "grouping": grouping, "group": group, **r.to_dict()})
    if not results:
        raise InputError(f"no value of segment {by!r} has at least {min_rows} rows with outcome {outcome!r}; "
                         "lower --min-rows or analyse without --by")
    return {"run": str(Path(run_dir)), "outcome": outcome, "by": by, "encoding": encoding, "results": results,
            "skipped": skipped, "seconds": round(time.perf_counter() - t0, 3)}


def _outcome_tables(frame: pd.DataFrame, features: dict[str, list[str]], outcome: str, scale, n_boot: int,
                    seed: int, min_rows: int) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """The driver and theme rows of one outcome, per taxonomy (a unit of work a worker process can do)."""
    d_parts, t_parts = [], []
    for tax, feats in features.items():
        try:
            r = driver_analysis(frame, outcome, feats, scale=scale, seed=seed, min_rows=min_rows, n_boot=n_boot,
                                weight="weight")
        except InputError:
            continue
        meta = {"outcome": outcome, "kind": r.info["kind"], "taxonomy_set": tax, "n": r.info["n"],
                "r2": r.info.get("shapley_r2"), "metric": r.info["metric"],
                "metric_value": r.info["metric_value"], "shapley_method": r.info.get("shapley_method")}
        d_parts.append(r.drivers.assign(**meta))
        t_parts.append(r.themes.assign(**{k: meta[k] for k in ("outcome", "kind", "n", "metric", "metric_value")}))
    return d_parts, t_parts


def start_drivers(con: duckdb.DuckDBPyConnection, scales: dict | None = None, outcomes=SCORES,
                  n_boot: int = 100, seed: int = 0, min_rows: int = 30, boot_first_only: bool = False,
                  executor: Executor | None = None) -> list[Future]:
    """Start the driver analyses of a store, one job per score outcome; pass the result to
    :func:`finish_drivers`.

    With an ``executor`` (e.g. the pipeline's idle worker pool) the outcomes run there while the caller
    goes on with other work; without one they run here, now. The tables are the same either way.
    """
    scales = scales or {}
    frame, features = load_driver_patterns(con)
    present = [o for o in outcomes if o in frame.columns and frame.loc[frame[o].notna(), "weight"].sum() >= min_rows]
    futures = []
    for i, outcome in enumerate(present):
        args = (frame, features, outcome, scales.get(outcome), n_boot if i == 0 or not boot_first_only else 0,
                seed, min_rows)
        if executor is not None:
            futures.append(executor.submit(_outcome_tables, *args))
        else:
            f: Future = Future()
            f.set_result(_outcome_tables(*args))
            futures.append(f)
    return futures


def finish_drivers(futures: list[Future]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``drivers`` and ``driver_themes`` tables from :func:`start_drivers`'s jobs, in outcome order."""
    d_parts, t_parts = [], []
    for f in futures:
        d, t = f.result()
        d_parts += d
        t_parts += t
    drivers = pd.concat(d_parts, ignore_index=True) if d_parts else pd.DataFrame(
        {"outcome": pd.Series(dtype=str), "taxonomy": pd.Series(dtype=str), "feature": pd.Series(dtype=str)})
    themes = pd.concat(t_parts, ignore_index=True) if t_parts else pd.DataFrame(
        {"outcome": pd.Series(dtype=str), "taxonomy": pd.Series(dtype=str), "category": pd.Series(dtype=str)})
    return drivers.drop(columns=["taxonomy_set"], errors="ignore"), themes


def drivers_tables(con: duckdb.DuckDBPyConnection, scales: dict | None = None, outcomes=SCORES,
                   n_boot: int = 100, seed: int = 0, min_rows: int = 30,
                   boot_first_only: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``drivers`` and ``driver_themes`` tables of a store: every score outcome of ``outcomes`` with at
    least ``min_rows`` values, per taxonomy, over all usable comments (ranked by Shapley value).

    ``boot_first_only``: bootstrap intervals for the first analysed outcome only (the others get none).
    """
    return finish_drivers(start_drivers(con, scales, outcomes, n_boot, seed, min_rows, boot_first_only))
