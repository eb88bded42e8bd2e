"""Pipeline configuration: one validated pydantic model per run.

A pipeline is a YAML file (see ``pipelines/``). Every key can be overridden
from the command line with ``dotted.key=value`` pairs; values are parsed as
YAML scalars, so ``input.chunk_size=500`` gives an int and
``clean.t2s=false`` a bool.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from voc.errors import ConfigError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_SCALE_TEXT = re.compile(r"^\s*(-?\d+)\s*(?:-|~|～|–|—|,|，|to)\s*(-?\d+)\s*$")


def parse_scale(v: Any, name: str = "scale") -> tuple[int, int]:
    """Read a score scale written as ``[0, 10]``, ``"0-10"``, ``"0~10"``, ``"0–10"`` or ``"0,10"``.

    Parameters
    ----------
    v : the configured value (a two-item list or tuple, or a string).
    name : the config key, for the error message.

    Returns
    -------
    tuple of int
        ``(low, high)`` with ``low < high``.

    Raises
    ------
    ValueError
        With one sentence saying how to write the scale (pydantic turns it into a ConfigError).
    """
    hint = f"write {name} as two whole numbers, low then high, such as 0-10 or [0, 10]"
    if isinstance(v, str):
        m = _SCALE_TEXT.match(v)
        if not m:
            raise ValueError(f"{hint}; got {v!r}")
        pair = [m.group(1), m.group(2)]
    elif isinstance(v, (list, tuple)) and len(v) == 2:
        pair = list(v)
    else:
        raise ValueError(f"{hint}; got {v!r}")
    out = []
    for x in pair:
        if isinstance(x, bool):
            raise ValueError(f"{hint}; got {v!r}")
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        if isinstance(x, str) and re.fullmatch(r"\s*-?\d+\s*", x):
            x = int(x)
        if not isinstance(x, int):
            raise ValueError(f"{hint}; got {v!r}")
        out.append(x)
    if out[0] >= out[1]:
        raise ValueError(f"{hint} (low first); got {v!r}")
    return out[0], out[1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnMap(_Strict):
    """Map the dump's column names onto voc's canonical fields.

    Only ``text`` is required. ``segments`` maps a canonical segment name
    (an identifier such as ``city``) to a source column.
    """

    text: str
    id: str | None = None
    date: str | None = None
    channel: str | None = None
    source: str | None = None
    nps: str | None = None
    csat: str | None = None
    rating: str | None = None
    ces: str | None = None  # customer effort score
    segments: dict[str, str] = Field(default_factory=dict)

    @field_validator("segments")
    @classmethod
    def _segment_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _IDENT.match(name):
                raise ValueError(f"segment name {name!r} must be an identifier (letters, digits, _)")
        return v


class InputConfig(_Strict):
    """Where the dump is and how to read it."""

    path: Path
    format: Literal["auto", "csv", "tsv", "xlsx", "jsonl", "parquet"] = "auto"
    encoding: str = "auto"
    sheet: str | int | None = None
    chunk_size: int = Field(2000, ge=1)
    # the row that names the columns (1-based: the sheet's row number, the CSV/TSV file's line number); rows
    # above it (a title such as 2026年NPS调研答卷导出) are skipped. CSV, TSV and Excel only
    header_row: int = Field(1, ge=1)
    columns: ColumnMap
    nps_scale: tuple[int, int] = (0, 10)
    csat_scale: tuple[int, int] = (1, 5)
    rating_scale: tuple[int, int] = (1, 5)
    ces_scale: tuple[int, int] = (1, 7)  # CES 2.0: 7 = "very easy"
    # dates with a UTC offset (2026-06-28T23:00:00+08:00, ...Z) become local wall-clock time in this zone
    timezone: str = "Asia/Shanghai"
    # a row whose id was already seen goes to the quarantine ("quarantine") or is kept ("keep")
    duplicate_ids: Literal["quarantine", "keep"] = "quarantine"

    @field_validator("nps_scale", "csat_scale", "rating_scale", "ces_scale", mode="before")
    @classmethod
    def _scale(cls, v: Any, info) -> Any:
        return parse_scale(v, info.field_name)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except (ValueError, KeyError, OSError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Asia/Shanghai or UTC") from None
        return v


class CleanConfig(_Strict):
    """Text normalisation and PII masking switches."""

    nfkc: bool = True
    t2s: bool = True
    lowercase: bool = True
    urls: bool = True
    mentions: bool = True
    emoji: Literal["signal", "keep", "remove"] = "signal"
    max_repeat: int = Field(3, ge=1)
    mask_phone: bool = True
    mask_id_card: bool = True
    mask_email: bool = True
    mask_bank_card: bool = True
    min_chars: int = Field(1, ge=0)
    boilerplate_extra: list[str] = Field(default_factory=list)


class SegmentConfig(_Strict):
    """Word segmentation settings."""

    backend: Literal["rjieba", "jieba"] = "rjieba"
    hmm: bool = True
    user_dicts: list[Path] = Field(default_factory=list)
    stopwords: Path | None = None
    keywords_top_k: int = Field(5, ge=0)


class SentimentConfig(_Strict):
    """Sentiment model: a registered name, a model directory, ``lexicon``, or ``auto`` (the shipped
    ``sentiment-tfidf`` when it is present, else ``lexicon``)."""

    model: str = "auto"
    neutral_margin: float = Field(0.0, ge=0.0, le=1.0)


class TaxonomyRef(_Strict):
    """A taxonomy (built-in name or YAML path) and the mapper to apply: ``rules``, a trained model's name
    or folder, or ``auto`` (the shipped ``<name>-tfidf`` for the built-in ``rater`` and ``touchpoint`` when
    it is present; ``rules`` for a taxonomy of your own)."""

    name: str
    path: Path | None = None
    mapper: str = "auto"


class OutputConfig(_Strict):
    """What a run writes."""

    dir: Path = Path("runs/latest")
    parquet: bool = True
    report: bool = True
    overwrite: bool = True


class AnalysisConfig(_Strict):
    """Settings of the analysis tables (trends, alerts, drivers)."""

    trend_period: Literal["month", "week"] = "month"
    driver_boot: int = Field(100, ge=0, description="bootstrap resamples for the stored drivers' intervals")


class PipelineConfig(_Strict):
    """One validated configuration for one run."""

    name: str = "pipeline"
    input: InputConfig
    clean: CleanConfig = Field(default_factory=CleanConfig)
    segment: SegmentConfig = Field(default_factory=SegmentConfig)
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    taxonomies: list[TaxonomyRef] = Field(
        default_factory=lambda: [TaxonomyRef(name="rater"), TaxonomyRef(name="touchpoint")]
    )
    output: OutputConfig = Field(default_factory=OutputConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    workers: int = Field(0, ge=0, description="processes; 0 = one per core")
    # The model specs as written (pipeline file or override), by "sentiment" and taxonomy name, where
    # load_config made them absolute; the run's summary.json records them.
    _given_models: dict[str, str] = PrivateAttr(default_factory=dict)

    def given_model(self, task: str, spec: str) -> str:
        """The spec of ``task``'s model (``sentiment`` or a taxonomy name) as written, ``spec`` when
        :func:`load_config` left it unchanged."""
        return self._given_models.get(task, spec)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value (e.g. input.chunk_size=1000)")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Return ``data`` with each ``dotted.key=value`` override set in place.

    A list the file does not set is taken from the configuration's defaults when an override indexes into
    it, so ``taxonomies.1.mapper=...`` changes the default second taxonomy.
    """
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = node[_list_index(node, part, item)]
                continue
            if not isinstance(node.get(part), (dict, list)):
                default = _default_list(parts[:i + 1]) if parts[i + 1].isdigit() else None
                node[part] = default if default is not None else {}
            node = node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[_list_index(node, last, item)] = value
        else:
            node[last] = value
    return data


def _default_list(parts: list[str]) -> list | None:
    """The default value of the list field at key path ``parts`` of :class:`PipelineConfig` (as plain data),
    None when that path is no list field with a default."""
    model: Any = PipelineConfig
    field = None
    for part in parts:
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        field = model.model_fields[part]
        model = field.annotation
    if field is None or field.is_required():
        return None
    default = field.get_default(call_default_factory=True)
    if not isinstance(default, list):
        return None
    return [x.model_dump(mode="json", exclude_unset=True) if isinstance(x, BaseModel) else x for x in default]


def _list_index(node: list, part: str, item: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"override {item!r}: {part!r} is not a valid list index")
    return int(part)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                data: dict | None = None) -> PipelineConfig:
    """Load, override and validate a pipeline configuration.

    Parameters
    ----------
    path : path to a pipeline YAML file, or None when ``data`` is given.
    overrides : ``dotted.key=value`` strings applied after loading.
    data : an already-parsed mapping (used instead of ``path``).

    Relative paths inside the file and in the overrides, model folders
    (``sentiment.model``, ``taxonomies[].mapper``) included, are resolved
    against the current directory first and then against the YAML file's
    folder; model names from the registry (``sentiment-tfidf``) and the
    baselines (``auto``, ``lexicon``, ``rules``) stay as they are.

    Raises
    ------
    ConfigError : the file is missing or invalid, or an override does not fit it.
    ModelError : a model written as a path (``models/x``, ``./x``, ``~/x``) is a folder in neither place.
    """
    base = None
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"pipeline file {p} does not exist; give the path to a YAML file such as pipelines/demo.yaml")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"pipeline file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
        base = p.resolve().parent
    data = apply_overrides(dict(data or {}), list(overrides or []))
    try:
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")  # pydantic's prefix on a validator's own sentence
        raise ConfigError(f"invalid pipeline config at '{loc}': {msg}") from None
    if base is not None:
        cfg = _resolve_paths(cfg, base)
    return cfg


def _resolve(p: Path | None, base: Path) -> Path | None:
    if p is None or p.is_absolute() or p.exists():
        return p
    cand = base / p
    return cand if cand.exists() else p


def _resolve_paths(cfg: PipelineConfig, base: Path) -> PipelineConfig:
    from voc.classify.registry import locate_model_spec

    cfg.input.path = _resolve(cfg.input.path, base)
    cfg.segment.user_dicts = [_resolve(p, base) for p in cfg.segment.user_dicts]
    cfg.segment.stopwords = _resolve(cfg.segment.stopwords, base)
    models = [("sentiment", cfg.sentiment, "model"), *[(t.name, t, "mapper") for t in cfg.taxonomies]]
    for task, node, attr in models:
        spec = getattr(node, attr)
        found = locate_model_spec(spec, base)
        if found != spec:
            setattr(node, attr, found)
            cfg._given_models[task] = spec
    for t in cfg.taxonomies:
        t.path = _resolve(t.path, base)
    return cfg


def dump_config(cfg: PipelineConfig) -> str:
    """The resolved config as YAML (saved next to every run and model)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
