"""Query a run's store: filter comments by category, polarity, sentiment, dates, segments and keywords."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from voc.errors import InputError
from voc.store.store import STORE_NAME

DEFAULT_COLUMNS = ["id", "date", "channel", "sentiment", "text"]
SCORE_COLUMNS = ["nps", "csat", "rating", "ces"]  # shown when the run has values for them


@dataclass
class CommentQuery:
    """Filters for :func:`query_comments`; all are optional and combine with AND.

    ``category`` is ``key`` or ``taxonomy/key``; ``polarity`` applies to that
    category's mention (or to any mention when no category is given).
    ``segments`` maps a segment name (``city``) to a value.
    """

    category: str | None = None
    polarity: str | None = None
    sentiment: str | None = None
    since: str | None = None
    until: str | None = None
    segments: dict[str, str] = field(default_factory=dict)
    keyword: str | None = None
    channel: str | None = None
    limit: int | None = 50


def store_path(run_dir: str | Path) -> Path:
    """The DuckDB file of a run folder (or the file itself)."""
    p = Path(run_dir)
    f = p / STORE_NAME if p.is_dir() else p
    if not f.is_file():
        raise InputError(f"no voc store at {p}; give a run folder written by 'voc run'")
    return f


def connect(run_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a run's store."""
    return duckdb.connect(str(store_path(run_dir)), read_only=True)


def query_comments(run_dir: str | Path, q: CommentQuery) -> pd.DataFrame:
    """Comments matching ``q``, with their categories, newest first.

    Raises
    ------
    InputError
        For an unknown segment, category or polarity value.
    """
    con = connect(run_dir)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE comments").fetchall()]
        where, params = [], []
        if q.category or q.polarity:
            sub, sub_params = ["m.comment_id = c.id"], []
            if q.category:
                tax, key = _resolve_category(con, q.category)
                sub.append("m.category = ?")
                sub_params.append(key)
                if tax:
                    sub.append("m.taxonomy = ?")
                    sub_params.append(tax)
            if q.polarity:
                _check_choice("polarity", q.polarity)
                sub.append("m.polarity = ?")
                sub_params.append(q.polarity)
            where.append(f"EXISTS (SELECT 1 FROM mentions m WHERE {' AND '.join(sub)})")
            params += sub_params
        if q.sentiment:
            _check_choice("sentiment", q.sentiment)
            where.append("c.sentiment = ?")
            params.append(q.sentiment)
        if q.since:
            where.append("c.date >= CAST(? AS TIMESTAMP)")
            params.append(q.since)
        if q.until:
            where.append("c.date < CAST(? AS TIMESTAMP) + INTERVAL 1 DAY")
            params.append(q.until)
        for name, value in q.segments.items():
            col = f"seg_{name}"
            if col not in cols:
                segs = [c[4:] for c in cols if c.startswith("seg_")]
                raise InputError(f"unknown segment {name!r}; this run has: {', '.join(segs) or 'none'}")
            where.append(f'c."{col}" = ?')
            params.append(value)
        if q.channel:
            where.append("c.channel = ?")
            params.append(q.channel)
        if q.keyword:
            # the stored text is normalised (NFKC, simplified, lower case): the keyword must be too, and the
            # raw form is tried as well, for runs with other clean settings
            kws = list(dict.fromkeys([normalize_keyword(q.keyword), q.keyword]))
            where.append("(" + " OR ".join(["c.text LIKE ? OR list_contains(c.keywords, ?)"] * len(kws)) + ")")
            for k in kws:
                params += [f"%{k}%", k]
        tax_cols = [c for c in cols if c not in _BASE_COLS and not c.startswith("seg_")]
        scores = [c for c in SCORE_COLUMNS if c in cols]
        if scores:  # the scores the run has values for (NPS, CSAT ...), after the sentiment
            counts = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in scores) + " FROM comments").fetchone()
            scores = [c for c, k in zip(scores, counts) if k]
        at = DEFAULT_COLUMNS.index("sentiment") + 1
        shown = DEFAULT_COLUMNS[:at] + scores + DEFAULT_COLUMNS[at:]
        select = ", ".join(f'c."{c}"' for c in shown + [c for c in cols if c.startswith("seg_")] + tax_cols)
        sql = f"SELECT {select} FROM comments c"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY c.date DESC NULLS LAST, c.source_row"
        if q.limit:
            sql += f" LIMIT {int(q.limit)}"
        try:
            return con.execute(sql, params).df()
        except duckdb.ConversionException:
            raise InputError("a date filter is not a valid date; use YYYY-MM-DD") from None
    finally:
        con.close()


_BASE_COLS = {"id", "source_row", "date", "channel", "source", "nps", "csat", "rating", "ces", "text", "quality", "pii",
              "emojis", "tokens", "keywords", "clauses", "clause_scores", "sentiment", "p_negative", "p_neutral",
              "p_positive"}


def normalize_keyword(keyword: str) -> str:
    """A search keyword normalised as the pipeline's default cleaning normalises text: NFKC (full-width to
    half-width), traditional to simplified, lower case (閃退 → 闪退, iOS → ios)."""
    import unicodedata

    from voc.text.normalize import to_simplified

    return to_simplified(unicodedata.normalize("NFKC", keyword.strip())).lower()


def _run_taxonomies(con) -> dict:
    """The run's taxonomies by name, from the ``config.yaml`` next to the store (those that load)."""
    import yaml

    from voc.taxonomy.model import load_taxonomy

    cfg_path = Path(con.execute("PRAGMA database_list").fetchone()[2]).parent / "config.yaml"
    out = {}
    if not cfg_path.is_file():
        return out
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    for t in cfg.get("taxonomies", []):
        try:
            out[t["name"]] = load_taxonomy(t.get("path") or t["name"])
        except Exception:  # noqa: BLE001 (a taxonomy file moved since the run: its keys still work)
            continue
    return out


def _resolve_category(con, spec: str) -> tuple[str, str]:
    """``(taxonomy or "", key)`` of a ``--category`` given as a key, a category name (现场服务) or either
    after ``taxonomy/``.

    Raises
    ------
    InputError
        For an unknown taxonomy or category (listing ``key (名称)``), or a key or name two taxonomies share.
    """
    tax, _, key = spec.strip().rpartition("/")
    key = key.strip()
    taxes = [r[0] for r in con.execute("SELECT DISTINCT taxonomy FROM mentions ORDER BY 1").fetchall()]
    defined = _run_taxonomies(con)
    if tax and tax not in taxes and tax not in defined:
        have = sorted(set(taxes) | set(defined))
        raise InputError(f"taxonomy {tax!r} is not in this run; it has {', '.join(have) or 'none'}")
    in_scope = {n: t for n, t in defined.items() if not tax or n == tax}
    known = {r[0] for r in con.execute("SELECT DISTINCT category FROM mentions"
                                       + (" WHERE taxonomy = ?" if tax else ""), [tax] if tax else []).fetchall()}
    keys = known | {c.key for t in in_scope.values() for c in t.categories}
    if key not in keys:  # a category's name, as the report shows it (现场服务), or its English name
        folded = key.casefold()
        hits = [(n, c.key) for n, t in in_scope.items() for c in t.categories
                if c.name.strip() == key or (c.name_en and c.name_en.strip().casefold() == folded)]
        if not hits:
            names = {c.key: c.name for t in in_scope.values() for c in t.categories}
            listed = ", ".join(f"{k} ({names[k]})" if names.get(k) else k for k in sorted(keys))
            raise InputError(f"no category {key!r} in this run; give a key or name: {listed or 'none'}")
        if len(hits) > 1:
            raise InputError(f"category {key!r} is in taxonomies {', '.join(n for n, _ in hits)}; write "
                             + " or ".join(f"{n}/{k}" for n, k in hits))
        tax, key = hits[0]
        return tax, key
    if not tax:  # a key two taxonomies share (customer_service) must say which one
        owners = [r[0] for r in con.execute(
            "SELECT DISTINCT taxonomy FROM mentions WHERE category = ? ORDER BY 1", [key]).fetchall()]
        if len(owners) > 1:
            raise InputError(f"category {key!r} is in taxonomies {', '.join(owners)}; write "
                             + " or ".join(f"{t}/{key}" for t in owners))
    return tax, key


def _check_choice(what: str, value: str) -> None:
    if value not in ("positive", "neutral", "negative"):
        raise InputError(f"{what} must be positive, neutral or negative, not {value!r}")
