"""Category stage: map each comment to the categories of one taxonomy, with polarity."""

from __future__ import annotations

import pandas as pd

from voc.errors import ModelError
from voc.stages import Stage
from voc.taxonomy.rules import RuleMapper


def load_mapper(taxonomy: str, spec: str = "rules"):
    """A fitted category mapper: ``rules`` (lexicon rules) or a trained model directory/name."""
    if spec == "rules":
        return RuleMapper(taxonomy).fit()
    from voc.classify.registry import load_model

    model = load_model(spec)
    if not hasattr(model, "map_clauses"):
        raise ModelError(f"model {spec!r} is not a category mapper for taxonomy {taxonomy!r}")
    return model


def format_labels(mentions) -> str:
    """Mentions in GUIDELINES format: ``key:polarity`` pairs joined by ``;``."""
    return ";".join(f"{m.category}:{m.polarity}" for m in mentions)


class CategoryStage(Stage):
    """Add a column named after the taxonomy (GUIDELINES format) and ``<name>_mentions`` (list of dicts).

    Boilerplate, meaningless and empty comments get no categories.
    """

    name = "categories"

    def __init__(self, name: str, mapper):
        self.tax_name = name
        self.mapper = mapper

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = batch.copy()
        ok = out["quality"].eq("ok").tolist() if "quality" in out else [True] * len(out)
        stage_of = {c.key: c.stage for c in self.mapper.taxonomy_.categories}
        labels, mentions = [], []
        for keep, clauses, scores in zip(ok, out["clauses"], out["clause_scores"]):
            ms = self.mapper.map_clauses(list(clauses), list(scores)) if keep else []
            labels.append(format_labels(ms))
            mentions.append([{"category": m.category, "stage": stage_of.get(m.category), "polarity": m.polarity,
                              "evidence": m.evidence, "clause": clauses[m.clause] if clauses else ""}
                             for m in ms])
        out[self.tax_name] = labels
        out[f"{self.tax_name}_mentions"] = mentions
        return out
