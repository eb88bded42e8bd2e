"""The batch pipeline: read → map columns → clean → segment → sentiment → categories → store.

Chunks stream from the reader; processing runs in a process pool when the
input is large, and the main process writes the store and the quarantine
file. Every input row ends up in ``comments`` or in ``quarantine.csv``.
"""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from voc.analyze.build import build_analysis
from voc.classify.sentiment import SentimentStage, load_sentiment_model
from voc.config import PipelineConfig, dump_config
from voc.errors import ConfigError, InputError
from voc.io.mapping import SCORE_COLUMNS, DuplicateIds, check_columns, map_columns, segment_columns
from voc.io.readers import ROW, Rejected, open_reader
from voc.store.store import STORE_NAME, PartWriter, QuarantineWriter, RunStore, explode_mentions
from voc.taxonomy.model import load_taxonomy
from voc.taxonomy.stage import CategoryStage, load_mapper
from voc.text.stages import CleanStage, SegmentStage

PARALLEL_MIN_BYTES = 1 << 20  # forked workers start in milliseconds; below this one process is as fast


@dataclass
class RunResult:
    """What a run did: counts, timings and where its files are."""

    out_dir: str
    rows_in: int = 0
    written: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    files: list[str] = field(default_factory=list)
    # the models used: {"sentiment": record, "taxonomies": {name: record}} (see run_models)
    models: dict = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """True when every input row was written or quarantined."""
        return self.rows_in == self.written + self.quarantined


def resolve_auto(cfg: PipelineConfig) -> PipelineConfig:
    """``cfg`` with ``auto`` models replaced (:func:`voc.classify.registry.auto_model`): the shipped trained
    models where they are present (sentiment ``sentiment-tfidf``; mappers ``rater-tfidf``/``touchpoint-tfidf``
    for the built-in taxonomies), the rule baselines (``lexicon``, ``rules``) otherwise and for taxonomies of
    your own."""
    from voc.classify.registry import auto_model

    cfg = cfg.model_copy(deep=True)
    if cfg.sentiment.model == "auto":
        cfg.sentiment.model = auto_model("sentiment")
    for t in cfg.taxonomies:
        if t.mapper == "auto":
            t.mapper = auto_model(t.name, own_taxonomy=t.path is not None)
    return cfg


class Processor:
    """All per-comment stages of a pipeline, built once per process."""

    def __init__(self, cfg: PipelineConfig):
        cfg = resolve_auto(cfg)
        self.cfg = cfg
        self.tax_names = [t.name for t in cfg.taxonomies]
        mappers = [load_mapper(str(t.path or t.name), t.mapper) for t in cfg.taxonomies]
        words = sorted({w for t in cfg.taxonomies for w in load_taxonomy(str(t.path or t.name)).all_terms()})
        self.stages = [
            CleanStage(cfg.clean),
            SegmentStage(cfg.segment, words),
            SentimentStage(load_sentiment_model(cfg.sentiment.model)),
            *[CategoryStage(n, m) for n, m in zip(self.tax_names, mappers)],
        ]

    def warm_up(self) -> None:
        """Run every stage once on a small batch, so lazily built tables (IDF, converters, indexes) are
        built here, once, and inherited by forked workers instead of being rebuilt in each."""
        cm = self.cfg.input.columns
        raw = pd.DataFrame({ROW: [1, 2]})
        for col in {c for c in (cm.id, cm.date, cm.channel, cm.source, cm.nps, cm.csat, cm.rating, cm.ces,
                                *cm.segments.values()) if c}:
            raw[col] = ""
        raw[cm.text] = ["房間很乾淨，服務很好，但是送餐太慢了😊", "默认好评"]
        self(map_columns(raw, self.cfg.input)[0])

    def __call__(self, batch: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[Rejected]]:
        """Process a mapped batch; returns comments, mentions and the rows that cleaning emptied and that
        carry no score."""
        batch = self.stages[0](batch)
        # a text emptied by cleaning is quarantined unless its row carries a score (the respondent still counts)
        empty = batch["quality"].eq("empty") & batch[list(SCORE_COLUMNS)].isna().all(axis=1)
        rejected = [Rejected("empty after cleaning", "", int(r)) for r in batch.loc[empty, "source_row"]]
        batch = batch[~empty].reset_index(drop=True)
        for stage in self.stages[1:]:
            batch = stage(batch)
        return batch, explode_mentions(batch, self.tax_names), rejected

    def process_to_parts(self, index: int, raw: pd.DataFrame, parts_dir: str
                         ) -> tuple[int, list[Rejected], dict[str, int]]:
        """Map a raw chunk's columns, process it and write it as Parquet part ``index``.

        Returns rows written, rows rejected (with reasons) and counts of values set to null.
        """
        mapped, rejected, warnings = map_columns(raw, self.cfg.input)
        written = 0
        if len(mapped):
            comments, mentions, emptied = self(mapped)
            rejected += emptied
            PartWriter(Path(parts_dir), segment_columns(self.cfg.input.columns), self.tax_names).write(
                index, comments, mentions)
            written = len(comments)
        return written, rejected, warnings


# The worker's Processor: inherited from the parent when workers are forked, built by _init_worker otherwise.
_WORKER: Processor | None = None


def _init_worker(cfg_json: str) -> None:
    global _WORKER
    _WORKER = Processor(PipelineConfig.model_validate_json(cfg_json))


def _work(job: tuple[int, pd.DataFrame, str]) -> tuple[int, list[Rejected], dict[str, int]]:
    return _WORKER.process_to_parts(*job)


def _start_method() -> str:
    """``fork`` on Linux (workers inherit the loaded models: no start-up cost), ``spawn`` elsewhere.

    ``VOC_MP_START`` overrides it.
    """
    method = os.environ.get("VOC_MP_START")
    if method:
        return method
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _n_workers(cfg: PipelineConfig, size: int) -> int:
    if cfg.workers:
        return cfg.workers
    return (os.cpu_count() or 1) if size >= PARALLEL_MIN_BYTES else 1


def written_models(cfg: PipelineConfig) -> dict[str, str]:
    """The model specs of ``cfg`` as written in the pipeline file or override (``auto`` unresolved), by
    ``sentiment`` and taxonomy name."""
    specs = {"sentiment": cfg.sentiment.model, **{t.name: t.mapper for t in cfg.taxonomies}}
    return {task: cfg.given_model(task, spec) for task, spec in specs.items()}


def run_models(cfg: PipelineConfig, written: dict[str, str] | None = None) -> dict:
    """Which models a run uses, for its ``summary.json`` and report.

    Parameters
    ----------
    cfg : the configuration with ``auto`` resolved (:func:`resolve_auto`).
    written : the specs as written (:func:`written_models` before ``auto`` was resolved).

    Returns
    -------
    ``{"sentiment": record, "taxonomies": {name: record}}``, records of
    :func:`voc.classify.registry.model_record` (spec as written, folder, ``created``, backend, weight hash).
    Computed once, in the main process: weight files are hashed here, never per chunk or per worker.
    """
    from voc.classify.registry import model_record

    written = written or {}
    rec = lambda task, spec: model_record(spec, written.get(task))  # noqa: E731
    return {"sentiment": rec("sentiment", cfg.sentiment.model),
            "taxonomies": {t.name: rec(t.name, t.mapper) for t in cfg.taxonomies}}


def _validate_taxonomies(cfg: PipelineConfig) -> None:
    names = [t.name for t in cfg.taxonomies]
    if len(set(names)) != len(names):
        raise ConfigError("two taxonomies share a name; give each entry of 'taxonomies' its own name")
    for n in names:
        if not n.isidentifier():
            raise ConfigError(f"taxonomy name {n!r} must be an identifier (letters, digits, _)")


class PipelineRun:
    """A validated run: the constructor checks the input (file, format, encoding, columns) and taxonomies,
    so user mistakes surface before any work starts; :meth:`execute` does the work."""

    def __init__(self, cfg: PipelineConfig):
        _validate_taxonomies(cfg)
        written = written_models(cfg)
        cfg = resolve_auto(cfg)  # the run's config.yaml names the models actually used
        self.cfg = cfg
        self.reader = open_reader(cfg.input.path, cfg.input.format, cfg.input.chunk_size, cfg.input.encoding,
                                  cfg.input.sheet, cfg.input.header_row)
        try:
            check_columns(self.reader.columns, cfg.input.columns, self.reader.title_like, cfg.input.header_row)
        except InputError as e:
            sheets = getattr(self.reader, "sheets", [])
            if cfg.input.sheet is None and len(sheets) > 1:  # the data is often not on the first sheet
                raise InputError(f"{e}; that is the first sheet ({sheets[0]!r}), the workbook also has "
                                 f"{', '.join(map(repr, sheets[1:]))}: set input.sheet") from None
            raise
        self.processor = Processor(cfg)  # loads models now, so a bad model spec fails before any work
        self.models = run_models(cfg, written)
        self.workers = _n_workers(cfg, Path(cfg.input.path).stat().st_size)
        out = Path(cfg.output.dir)
        if out.exists() and any(out.iterdir()) and not cfg.output.overwrite:
            raise ConfigError(f"output folder {out} is not empty; choose another --out or set output.overwrite=true")

    def execute(self, progress: Callable[[int, int], None] | None = None) -> RunResult:
        """Run the pipeline end to end; see :func:`run_pipeline`."""
        global _WORKER
        cfg, reader = self.cfg, self.reader
        t0 = time.perf_counter()
        started = time.time()
        out = Path(cfg.output.dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(dump_config(cfg), encoding="utf-8")
        tax_names = [t.name for t in cfg.taxonomies]
        quarantine = QuarantineWriter(out / "quarantine.csv")
        res = RunResult(out_dir=str(out), models=self.models)

        parts = out / "_parts"
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir()

        cm = cfg.input.columns
        dups = DuplicateIds(cm.id, cm.text) if cm.id and cfg.input.duplicate_ids == "quarantine" else None

        def jobs():
            for i, chunk in enumerate(reader):
                res.rows_in += len(chunk.frame) + len(chunk.rejected)
                quarantine.write(chunk.rejected)
                for k, v in chunk.warnings.items():
                    res.warnings[k] = res.warnings.get(k, 0) + v
                frame = chunk.frame
                if dups is not None and len(frame):  # in the main process: ids seen in any earlier chunk
                    frame, rejected = dups.split(frame)
                    quarantine.write(rejected)
                if len(frame):
                    yield i, frame, str(parts)

        def consume(index: int, result: tuple[int, list[Rejected], dict[str, int]]) -> None:
            written, rejected, warns = result
            if written:
                store.load_part(parts, index)
            quarantine.write(rejected)
            res.written += written
            for k, v in warns.items():
                res.warnings[k] = res.warnings.get(k, 0) + v
            if progress:
                progress(reader.done, reader.total)

        store = pool = None
        store_args = (out / STORE_NAME, segment_columns(cfg.input.columns), tax_names)
        self.processor.warm_up()
        # The loaded models are millions of long-lived objects: freezing them keeps the cyclic garbage
        # collector from re-scanning them on every collection (about a fifth of the stage time), and
        # forked workers then share their memory pages instead of copying them.
        gc.collect()
        gc.freeze()
        try:
            if self.workers > 1:
                method = _start_method()
                if method == "fork":
                    _WORKER, init, args = self.processor, None, ()
                else:
                    init, args = _init_worker, (cfg.model_dump_json(),)
                pool = ProcessPoolExecutor(self.workers, mp.get_context(method), init, args)
                pool.submit(int).result()  # fork the workers before the reader or DuckDB start threads
            store = RunStore(*store_args)
            if pool is None:
                for job in jobs():
                    consume(job[0], self.processor.process_to_parts(*job))
            else:
                # Results are taken in input order with a bounded number of chunks in flight, so memory
                # stays flat whatever the input size.
                pending: deque = deque()
                for job in jobs():
                    pending.append((job[0], pool.submit(_work, job)))
                    if len(pending) > 2 * self.workers:
                        index, future = pending.popleft()
                        consume(index, future.result())
                while pending:
                    index, future = pending.popleft()
                    consume(index, future.result())
            res.timings["process"] = round(time.perf_counter() - t0, 3)
            if progress:
                progress(reader.total, reader.total)
            if cfg.output.parquet:
                res.files += [str(p) for p in store.export_parquet(out)]
            store.close()
            store = None
            t1 = time.perf_counter()
            res.timings["store"] = round(t1 - t0 - res.timings["process"], 3)
            # The idle workers compute the driver analyses while this process builds the other tables.
            build_analysis(out / STORE_NAME, out if cfg.output.parquet else None, cfg.analysis.trend_period,
                           cfg.analysis.driver_boot, executor=pool)
            res.timings["analysis"] = round(time.perf_counter() - t1, 3)
        finally:
            gc.unfreeze()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                _WORKER = None
            if store is not None:
                store.close()
            quarantine.close()
            shutil.rmtree(parts, ignore_errors=True)
        if cfg.output.report:
            from voc.report.html import write_report

            t1 = time.perf_counter()
            res.files.append(str(write_report(out, models=self.models)))
            res.timings["report"] = round(time.perf_counter() - t1, 3)
        res.quarantined = quarantine.count
        res.reasons = dict(quarantine.reasons)
        res.seconds = round(time.perf_counter() - t0, 3)
        first = [str(out / STORE_NAME), str(out / "quarantine.csv"), str(out / "config.yaml")]
        # every file this run wrote (the analysis tables' Parquet files included; not an earlier run's leftovers
        # in an overwritten folder), the main ones first
        fresh = sorted(str(p) for p in out.iterdir() if p.is_file() and p.stat().st_mtime >= started - 1)
        res.files = list(dict.fromkeys([*first, *res.files, *fresh, str(out / "summary.json")]))
        summary = {**asdict(res), "balanced": res.balanced}
        (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        return res


def run_pipeline(cfg: PipelineConfig, progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Run a pipeline end to end and write its store, Parquet files, quarantine file and resolved config.

    Parameters
    ----------
    cfg : the validated configuration.
    progress : called as ``progress(done, total)`` after each chunk.

    Returns
    -------
    RunResult with the row accounting (``rows_in == written + quarantined``).
    """
    return PipelineRun(cfg).execute(progress)
