"""Sound (心声) indicators of the BEST model, per category: volume, share, net sentiment, NPS.

Definitions
-----------
- volume: comments that mention the category (each comment counts once);
- share: volume / comments with usable text (``quality = 'ok'``) in the same group;
- net sentiment: (% positive − % negative) of the category's mentions, in points (−100..100);
- NPS: % promoters (9-10) − % detractors (0-6) among the mentioners who gave a score, next to the
  NPS of the customers in the same group who did not mention the category;
- CSAT, rating, CES (when the run has them): the mentioners' mean (``rating_mean``, with ``rating_n``)
  next to the others' (``rating_others``), for dumps with stars or CSAT instead of NPS.

Groups: overall (``period = 'all'``), per month (``period = 'YYYY-MM'``) and per segment value.
"""

from __future__ import annotations

import duckdb
import pandas as pd

GROUP_ALL = "all"


MEAN_SCORES = ("csat", "rating", "ces")


def sound_table(con: duckdb.DuckDBPyConnection, group_expr: str = "'all'", group_name: str = "all") -> pd.DataFrame:
    """Sound indicators per category for one grouping of comments.

    Parameters
    ----------
    con : connection to a run store (tables ``comments`` and ``mentions``).
    group_expr : SQL expression over ``c`` (comments) giving the group value, e.g. ``strftime(c.date, '%Y-%m')``.
    group_name : what the grouping is (``all``, ``month``, ``seg_city`` ...), stored in column ``grouping``.
    """
    cols = {r[0] for r in con.execute("DESCRIBE comments").fetchall()}
    means = [x for x in MEAN_SCORES if x in cols]  # CSAT, rating, CES: means of mentioners and of the others
    sel_c = "".join(f", {x}" for x in means)
    base_x = "".join(f", count({x}) AS {x}_n_all, sum({x}) AS {x}_sum_all" for x in means)
    m_x = "".join(f", c.{x}" for x in means)
    agg_x = "".join(f", count({x}) AS {x}_n, sum({x}) AS {x}_sum" for x in means)
    out_x = "".join(f""",
           a.{x}_n, round(a.{x}_sum / nullif(a.{x}_n, 0), 3) AS {x}_mean,
           round((b.{x}_sum_all - coalesce(a.{x}_sum, 0)) / nullif(b.{x}_n_all - a.{x}_n, 0), 3) AS {x}_others"""
                    for x in means)
    sql = f"""
    WITH c AS (SELECT id, nps{sel_c}, {group_expr} AS grp FROM comments c WHERE quality = 'ok'),
    base AS (SELECT grp, count(*) AS n_ok, count(nps) AS nps_n_all,
                    count(*) FILTER (WHERE nps >= 9) AS promoters_all,
                    count(*) FILTER (WHERE nps <= 6) AS detractors_all{base_x} FROM c GROUP BY grp),
    m AS (SELECT DISTINCT ON (m.comment_id, m.taxonomy, m.category) m.taxonomy, m.category, m.stage,
                 m.polarity, c.grp, c.nps{m_x}
          FROM mentions m JOIN c ON c.id = m.comment_id),
    agg AS (
      SELECT taxonomy, category, any_value(stage) AS stage, grp,
             count(*) AS volume,
             count(*) FILTER (WHERE polarity = 'positive') AS positive,
             count(*) FILTER (WHERE polarity = 'neutral') AS neutral,
             count(*) FILTER (WHERE polarity = 'negative') AS negative,
             count(nps) AS nps_n,
             count(*) FILTER (WHERE nps >= 9) AS promoters,
             count(*) FILTER (WHERE nps <= 6) AS detractors{agg_x}
      FROM m GROUP BY taxonomy, category, grp)
    SELECT '{group_name}' AS grouping, CAST(a.grp AS VARCHAR) AS "group", a.taxonomy, a.category, a.stage,
           a.volume, b.n_ok AS comments, a.volume / b.n_ok AS share,
           a.positive, a.neutral, a.negative,
           round(100.0 * (a.positive - a.negative) / a.volume, 2) AS net_sentiment,
           a.nps_n, round(100.0 * (a.promoters - a.detractors) / nullif(a.nps_n, 0), 2) AS nps,
           round(100.0 * ((b.promoters_all - a.promoters) - (b.detractors_all - a.detractors))
                 / nullif(b.nps_n_all - a.nps_n, 0), 2) AS nps_others{out_x}
    FROM agg a JOIN base b USING (grp)
    ORDER BY "group", a.taxonomy, a.volume DESC, a.category
    """
    return con.execute(sql).df()


def segment_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The ``seg_*`` columns of a store."""
    return [r[0] for r in con.execute("DESCRIBE comments").fetchall() if r[0].startswith("seg_")]


def sound_indicators(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Sound indicators overall, per month and per value of every segment column, in one long table."""
    parts = [sound_table(con)]
    if con.execute("SELECT count(date) FROM comments").fetchone()[0]:
        parts.append(sound_table(con, "strftime(c.date, '%Y-%m')", "month"))
    for seg in segment_columns(con):
        parts.append(sound_table(con, f'c."{seg}"', seg))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else sound_table(con)


def top_phrases(con: duckdb.DuckDBPyConnection, k: int = 5) -> pd.DataFrame:
    """The ``k`` most frequent opinion phrases per category and polarity."""
    return con.execute(f"""
        SELECT taxonomy, category, polarity, phrase, n FROM (
          SELECT m.taxonomy, m.category, m.polarity, m.phrase, count(*) AS n,
                 row_number() OVER (PARTITION BY m.taxonomy, m.category, m.polarity
                                    ORDER BY count(*) DESC, m.phrase) AS r
          FROM mentions m JOIN comments c ON c.id = m.comment_id
          WHERE m.phrase <> '' AND c.quality = 'ok'
          GROUP BY m.taxonomy, m.category, m.polarity, m.phrase)
        WHERE r <= {int(k)} ORDER BY taxonomy, category, polarity, n DESC, phrase""").df()


def top_keywords(con: duckdb.DuckDBPyConnection, k: int = 8) -> pd.DataFrame:
    """The ``k`` most frequent keywords of the comments that mention each category."""
    return con.execute(f"""
        SELECT taxonomy, category, keyword, n FROM (
          SELECT m.taxonomy, m.category, kw AS keyword, count(DISTINCT c.id) AS n,
                 row_number() OVER (PARTITION BY m.taxonomy, m.category ORDER BY count(DISTINCT c.id) DESC, kw) AS r
          FROM (SELECT DISTINCT comment_id, taxonomy, category FROM mentions) m
          JOIN comments c ON c.id = m.comment_id, unnest(c.keywords) AS t(kw)
          WHERE c.quality = 'ok'
          GROUP BY m.taxonomy, m.category, kw)
        WHERE r <= {int(k)} ORDER BY taxonomy, category, n DESC, keyword""").df()


def verbatims(con: duckdb.DuckDBPyConnection, k: int = 3, min_chars: int = 8, max_chars: int = 160) -> pd.DataFrame:
    """Representative comments per category and polarity (``positive`` and ``negative``).

    Ranked by how sure the sentiment model is of that polarity, among comments of readable length
    (``min_chars``..``max_chars``); shorter or longer ones are used only when nothing else exists.
    """
    return con.execute(f"""
        SELECT taxonomy, category, polarity, comment_id, text, date, score FROM (
          SELECT m.taxonomy, m.category, m.polarity, c.id AS comment_id, c.text, c.date,
                 CASE m.polarity WHEN 'positive' THEN c.p_positive ELSE c.p_negative END AS score,
                 row_number() OVER (PARTITION BY m.taxonomy, m.category, m.polarity ORDER BY
                     (length(c.text) BETWEEN {int(min_chars)} AND {int(max_chars)}) DESC,
                     CASE m.polarity WHEN 'positive' THEN c.p_positive ELSE c.p_negative END DESC, c.id) AS r
          FROM (SELECT DISTINCT comment_id, taxonomy, category, polarity FROM mentions
                WHERE polarity IN ('positive', 'negative')) m
          JOIN comments c ON c.id = m.comment_id
          WHERE c.quality = 'ok')
        WHERE r <= {int(k)} ORDER BY taxonomy, category, polarity, r""").df()
