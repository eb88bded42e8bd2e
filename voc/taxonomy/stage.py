"""Category stage: map each comment to the categories of one taxonomy, with polarity."""

from __future__ import annotations

import pandas as pd

from voc.errors import ModelError
from voc.stages import Stage
from voc.taxonomy.opinion import OpinionExtractor
from voc.taxonomy.rules import RuleMapper


def load_mapper(taxonomy: str, spec: str = "rules"):
    """A fitted category mapper: ``rules`` (lexicon rules) or a trained model directory/name."""
    if spec == "rules":
        return RuleMapper(taxonomy).fit()
    from voc.classify.registry import load_model

    model = load_model(spec)
    if not hasattr(model, "map_clauses"):
        raise ModelError(f"model {spec!r} is not a category mapper for taxonomy {taxonomy!r}")
    own = getattr(model, "taxonomy_", None)
    if own is not None:
        from voc.taxonomy.model import load_taxonomy

        want = load_taxonomy(taxonomy)
        if own.name != want.name or list(own.keys) != list(want.keys):
            raise ModelError(f"model {spec!r} maps to taxonomy {own.name!r} ({len(own.keys)} categories), not "
                             f"{want.name!r}; use a model trained for {want.name!r}, or 'rules'")
    return model


def format_labels(mentions) -> str:
    """Mentions in GUIDELINES format: ``key:polarity`` pairs joined by ``;``."""
    return ";".join(f"{m.category}:{m.polarity}" for m in mentions)


class CategoryStage(Stage):
    """Add a column named after the taxonomy (GUIDELINES format) and ``<name>_mentions`` (list of dicts).

    Each mention carries its category, journey stage, polarity, evidence words, clause and an opinion
    phrase (``送餐-太慢``). Boilerplate, meaningless and empty comments get no categories.
    """

    name = "categories"

    def __init__(self, name: str, mapper, opinions: OpinionExtractor | None = None):
        self.tax_name = name
        self.mapper = mapper
        self.opinions = opinions or OpinionExtractor()
        self.stage_of = {c.key: c.stage for c in mapper.taxonomy_.categories}

    def _map(self, clauses: list[list[str]], scores: list[list[float]]):
        if hasattr(self.mapper, "map_batch"):
            return self.mapper.map_batch(clauses, scores)
        return [self.mapper.map_clauses(c, s) for c, s in zip(clauses, scores)]

    def _mentions(self, found: list, clauses: list[str]) -> list[dict]:
        """Mention records of one comment; each clause's opinion words are found once."""
        spans: dict[int, list] = {}
        out = []
        for m in found:
            clause = clauses[m.clause] if clauses else ""
            term = m.evidence.split("|")[0]
            phrase = ""
            if term:
                if m.clause not in spans:
                    spans[m.clause] = self.opinions.opinions(clause)
                phrase = self.opinions.phrase(clause, term, spans[m.clause], m.polarity)
            out.append({"category": m.category, "stage": self.stage_of.get(m.category), "polarity": m.polarity,
                        "evidence": m.evidence, "phrase": phrase, "clause": clause})
        return out

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = batch.copy()
        ok = out["quality"].eq("ok").to_numpy() if "quality" in out else [True] * len(out)
        clauses = [list(c) if keep else [] for c, keep in zip(out["clauses"].tolist(), ok)]
        scores = [list(s) if keep else [] for s, keep in zip(out["clause_scores"].tolist(), ok)]
        found = self._map(clauses, scores)
        out[self.tax_name] = [format_labels(ms) for ms in found]
        out[f"{self.tax_name}_mentions"] = [self._mentions(ms, cl) for ms, cl in zip(found, clauses)]
        return out
