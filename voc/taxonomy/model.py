"""Taxonomy definitions: categories with names, descriptions, journey stages and lexicons.

The defaults (``rater`` and ``touchpoint``) ship in ``voc/taxonomy/defaults``
and follow GUIDELINES.md; a user points a pipeline at their own YAML file of
the same shape.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voc.errors import ModelError

POLARITIES = ("positive", "neutral", "negative")


class _YamlInt(int):
    """An int read from a taxonomy file that remembers how it was written (``010`` stays ``010``)."""

    yaml_text: str


class _YamlFloat(float):
    """A float read from a taxonomy file that remembers how it was written (``1.50`` stays ``1.50``)."""

    yaml_text: str


def _number_with_text(base, cls):
    def construct(loader, node):
        out = cls(base(loader, node))
        out.yaml_text = node.value
        return out
    return construct


class _TaxonomyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # the C loader is ~10x faster
    """A safe YAML loader whose numbers keep their source text, so an unquoted keyword such as 10086, 010
    or 12:30 (YAML 1.1 reads the last two as 8 and 750) is kept as written."""


_TaxonomyLoader.add_constructor("tag:yaml.org,2002:int",
                                _number_with_text(yaml.SafeLoader.construct_yaml_int, _YamlInt))
_TaxonomyLoader.add_constructor("tag:yaml.org,2002:float",
                                _number_with_text(yaml.SafeLoader.construct_yaml_float, _YamlFloat))


def _as_text(v):
    """A term written as a number (a hotline such as 10086, 95588) as its text.

    Numbers read from a taxonomy file keep their source text (see :class:`_TaxonomyLoader`). Not
    recoverable, so left to fail validation: yes/no/on/off/true/false, which YAML reads as booleans. A
    number given from Python (not from a file) becomes ``str(v)``; ``~``/``null`` items are dropped.
    """
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return getattr(v, "yaml_text", None) or str(v)
    return v


def _terms(v) -> list[str]:
    """Terms without surrounding white space; empty ones dropped (they could never match)."""
    if not isinstance(v, list):
        return v
    out = []
    for t in v:
        t = _as_text(t)
        if t is None or (isinstance(t, str) and not t.strip()):
            continue
        if not isinstance(t, str):
            hint = " (YAML reads an unquoted yes/no/on/off/true/false as a boolean)" if isinstance(t, bool) else ""
            raise ValueError(f"term {t!r} is not text{hint}; put it in quotes")
        out.append(t.strip())
    return out




class Cues(BaseModel):
    """Phrases that mark a category and fix its polarity."""

    model_config = ConfigDict(extra="forbid")
    positive: list[str] = Field(default_factory=list)
    neutral: list[str] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)

    _strip = field_validator("positive", "neutral", "negative", mode="before")(classmethod(lambda cls, v: _terms(v)))


class OpinionRule(Cues):
    """Opinion words that give some keywords of a category their polarity (see :mod:`voc.taxonomy.aspect`).

    When a keyword in ``after`` is followed in its clause by one of these words, the keyword takes that
    word's polarity instead of the clause's sentiment: 偏高 after 价格 is negative, 高 after 性价比 positive.
    The words never mark the category by themselves.
    """

    after: list[str]

    _after = field_validator("after", mode="before")(classmethod(lambda cls, v: _terms(v)))


class JourneyStage(BaseModel):
    """A group of categories (a customer-journey stage for touchpoints)."""

    model_config = ConfigDict(extra="forbid")
    key: str
    name: str
    description: str = ""


class Category(BaseModel):
    """One category of a taxonomy."""

    model_config = ConfigDict(extra="forbid")
    key: str
    name: str
    name_en: str = ""
    description: str = ""
    stage: str | None = None
    keywords: list[str] = Field(default_factory=list)
    cues: Cues = Field(default_factory=Cues)
    opinions: list[OpinionRule] = Field(default_factory=list)

    _strip = field_validator("keywords", mode="before")(classmethod(lambda cls, v: _terms(v)))
    _text = field_validator("key", "name", "name_en", mode="before")(classmethod(lambda cls, v: _as_text(v)))

    def all_terms(self) -> list[str]:
        """Keywords and cue phrases together."""
        return [*self.keywords, *self.cues.positive, *self.cues.neutral, *self.cues.negative]


class ContextRule(BaseModel):
    """Re-attribute a category that only generic words marked, given the rest of the comment.

    When every evidence term of ``category`` in a comment is one of ``generic``, the comment contains one of
    ``when_any`` (or ``when_any`` is empty) and none of ``unless_any``, the mention moves to ``move_to``
    (keeping its polarity; dropped when ``move_to`` is already present) or, with ``move_to`` empty, is dropped.
    Example: bare 服务/态度 in a comment about an online shop (卖家, 快递) is customer service, not in-person
    staff service.
    """

    model_config = ConfigDict(extra="forbid")
    category: str
    generic: list[str]
    move_to: str | None = None
    when_any: list[str] = Field(default_factory=list)
    unless_any: list[str] = Field(default_factory=list)

    _strip = field_validator("generic", "when_any", "unless_any", mode="before")(
        classmethod(lambda cls, v: _terms(v)))


class ContrastRule(BaseModel):
    """Mark a category when what was expected and what happened are set against each other.

    An ``expect`` phrase (说好, 宣传, 详情页上写着, 预计) followed, ending within ``window`` characters and at most
    ``max_clauses`` clause breaks by a ``reality`` phrase (结果, 实际, 却, 才发现) marks ``category`` with
    ``polarity``, unless the clause of the ``reality`` phrase is clearly positive (实际用起来也不错). Example:
    说是有包间，到了却安排在大厅 is a broken promise (``reliability:negative``) without any reliability word.
    ``ignore`` lists phrases that contain an ``expect`` phrase without being one (听说是, 小说是).
    """

    model_config = ConfigDict(extra="forbid")
    category: str
    polarity: Literal["positive", "neutral", "negative"] = "negative"
    expect: list[str] = Field(min_length=1)
    reality: list[str] = Field(min_length=1)
    ignore: list[str] = Field(default_factory=list)
    window: int = Field(default=30, ge=1, le=200)
    max_clauses: int = Field(default=2, ge=0, le=10)

    _ignore = field_validator("ignore", mode="before")(classmethod(lambda cls, v: _terms(v)))

    @field_validator("expect", "reality", mode="before")
    @classmethod
    def _phrases(cls, v: list[str]) -> list[str]:
        v = _terms(v)
        if not isinstance(v, list):
            return v
        kept = [p.strip() for p in v if p and p.strip()]
        if not kept:
            raise ValueError("needs at least one non-empty phrase")
        return kept


class Taxonomy(BaseModel):
    """A named set of categories, optionally grouped into stages.

    ``ignore`` lists phrases that are matched and then ignored: they keep a shorter term inside them from
    matching (度假的 keeps 假的 from marking a fake product). ``context_rules`` re-attribute generic mentions
    (see :class:`ContextRule`); ``contrast_rules`` find expectation set against reality (see
    :class:`ContrastRule`).
    """

    model_config = ConfigDict(extra="forbid")
    name: str
    title: str = ""
    description: str = ""
    stages: list[JourneyStage] = Field(default_factory=list)
    categories: list[Category]
    ignore: list[str] = Field(default_factory=list)
    context_rules: list[ContextRule] = Field(default_factory=list)
    contrast_rules: list[ContrastRule] = Field(default_factory=list)

    _ignore = field_validator("ignore", mode="before")(classmethod(lambda cls, v: _terms(v)))

    @model_validator(mode="after")
    def _check(self) -> "Taxonomy":
        keys = [c.key for c in self.categories]
        if not keys:
            raise ValueError("a taxonomy needs at least one category")
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate category keys: {sorted(dup)}")
        skeys = [s.key for s in self.stages]
        dup = {k for k in skeys if skeys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate stage keys: {sorted(dup)}")
        empty = [c.key for c in self.categories if not c.all_terms()]
        if empty:
            raise ValueError(f"categories {empty} have no keywords and no cues, so nothing can ever mark them")
        stage_keys = {s.key for s in self.stages}
        for c in self.categories:
            if c.stage is not None and stage_keys and c.stage not in stage_keys:
                raise ValueError(f"category {c.key!r} names unknown stage {c.stage!r}")
        for r in self.context_rules:
            for k in (r.category, r.move_to):
                if k is not None and k not in keys:
                    raise ValueError(f"context rule names unknown category {k!r}")
        for r in self.contrast_rules:
            if r.category not in keys:
                raise ValueError(f"contrast rule names unknown category {r.category!r}")
        return self

    @property
    def keys(self) -> list[str]:
        """Category keys in definition order."""
        return [c.key for c in self.categories]

    def category(self, key: str) -> Category:
        """The category with ``key``."""
        for c in self.categories:
            if c.key == key:
                return c
        raise KeyError(key)

    def stage_of(self, key: str) -> str | None:
        """The stage key of a category."""
        return self.category(key).stage

    def all_terms(self) -> list[str]:
        """Every keyword and cue of every category (for the segmenter's user dictionary)."""
        return sorted({t for c in self.categories for t in c.all_terms()})

    def lexicon(self) -> dict[str, list[tuple[int, str | None]]]:
        """Lower-cased term → ``(category index, cue polarity or None for a keyword)`` targets, in
        definition order and without duplicates; ``ignore`` phrases map to no target."""
        terms: dict[str, list[tuple[int, str | None]]] = {}
        for ci, cat in enumerate(self.categories):
            for kw in cat.keywords:
                terms.setdefault(kw.lower(), []).append((ci, None))
            for pol in POLARITIES:
                for cue in getattr(cat.cues, pol):
                    terms.setdefault(cue.lower(), []).append((ci, pol))
        for t in self.ignore:
            terms.setdefault(t.lower(), [])
        return {t: list(dict.fromkeys(v)) for t, v in terms.items() if t}


def builtin_names() -> list[str]:
    """Names of the bundled taxonomies."""
    root = resources.files("voc") / "taxonomy" / "defaults"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=32)
def _load_cached(path: str) -> Taxonomy:
    p = Path(path)
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_TaxonomyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ModelError(f"taxonomy file {p} is not valid YAML{where}: {problem}") from None
    try:
        return Taxonomy.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ModelError(f"taxonomy file {p} is invalid at '{loc}': {msg}") from None


def load_taxonomy(name_or_path: str | Path) -> Taxonomy:
    """Load a bundled taxonomy by name (``rater``, ``touchpoint``) or a YAML file by path."""
    s = str(name_or_path)
    if s in builtin_names():
        return _load_cached(str(resources.files("voc") / "taxonomy" / "defaults" / f"{s}.yaml"))
    p = Path(s)
    if not p.is_file():
        raise ModelError(f"taxonomy {s!r} is neither a bundled taxonomy ({', '.join(builtin_names())}) nor a file")
    return _load_cached(str(p.resolve()))
