"""The batch pipeline: read → map columns → clean → segment → sentiment → categories → store.

Chunks stream from the reader; processing runs in a process pool when the
input is large, and the main process writes the store and the quarantine
file. Every input row ends up in ``comments`` or in ``quarantine.csv``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from voc.analyze.build import build_analysis
from voc.classify.sentiment import SentimentStage, load_sentiment_model
from voc.config import PipelineConfig, dump_config
from voc.errors import ConfigError
from voc.io.mapping import check_columns, map_columns, segment_columns
from voc.io.readers import Rejected, open_reader
from voc.store.store import STORE_NAME, PartWriter, QuarantineWriter, RunStore, explode_mentions
from voc.taxonomy.model import load_taxonomy
from voc.taxonomy.stage import CategoryStage, load_mapper
from voc.text.stages import CleanStage, SegmentStage

PARALLEL_MIN_BYTES = 2 << 20


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
    files: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """True when every input row was written or quarantined."""
        return self.rows_in == self.written + self.quarantined


class Processor:
    """All per-comment stages of a pipeline, built once per process."""

    def __init__(self, cfg: PipelineConfig):
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

    def __call__(self, batch: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[Rejected]]:
        """Process a mapped batch; returns comments, mentions and rows emptied by cleaning."""
        batch = self.stages[0](batch)
        empty = batch["quality"].eq("empty")
        rejected = [Rejected("empty after cleaning", "", int(r)) for r in batch.loc[empty, "source_row"]]
        batch = batch[~empty].reset_index(drop=True)
        for stage in self.stages[1:]:
            batch = stage(batch)
        return batch, explode_mentions(batch, self.tax_names), rejected

    def process_to_parts(self, index: int, batch: pd.DataFrame, parts_dir: str) -> tuple[int, list[Rejected]]:
        """Process a batch and write it as Parquet part ``index``; returns rows written and rows rejected."""
        comments, mentions, rejected = self(batch)
        PartWriter(Path(parts_dir), segment_columns(self.cfg.input.columns), self.tax_names).write(
            index, comments, mentions)
        return len(comments), rejected


_WORKER: Processor | None = None


def _init_worker(cfg_json: str) -> None:
    global _WORKER
    _WORKER = Processor(PipelineConfig.model_validate_json(cfg_json))


def _work(job: tuple[int, pd.DataFrame, str]) -> tuple[int, list[Rejected]]:
    return _WORKER.process_to_parts(*job)


def _n_workers(cfg: PipelineConfig, size: int) -> int:
    if cfg.workers:
        return cfg.workers
    return (os.cpu_count() or 1) if size >= PARALLEL_MIN_BYTES else 1


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
        self.cfg = cfg
        self.reader = open_reader(cfg.input.path, cfg.input.format, cfg.input.chunk_size, cfg.input.encoding,
                                  cfg.input.sheet)
        check_columns(self.reader.columns, cfg.input.columns)
        self.processor = Processor(cfg)  # loads models now, so a bad model spec fails before any work
        self.workers = _n_workers(cfg, Path(cfg.input.path).stat().st_size)
        out = Path(cfg.output.dir)
        if out.exists() and any(out.iterdir()) and not cfg.output.overwrite:
            raise ConfigError(f"output folder {out} is not empty; choose another --out or set output.overwrite=true")

    def execute(self, progress: Callable[[int, int], None] | None = None) -> RunResult:
        """Run the pipeline end to end; see :func:`run_pipeline`."""
        cfg, reader = self.cfg, self.reader
        t0 = time.perf_counter()
        out = Path(cfg.output.dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(dump_config(cfg), encoding="utf-8")
        tax_names = [t.name for t in cfg.taxonomies]
        store = RunStore(out / STORE_NAME, segment_columns(cfg.input.columns), tax_names)
        quarantine = QuarantineWriter(out / "quarantine.csv")
        res = RunResult(out_dir=str(out))

        parts = out / "_parts"
        shutil.rmtree(parts, ignore_errors=True)
        parts.mkdir()

        def jobs():
            for i, chunk in enumerate(reader):
                res.rows_in += len(chunk.frame) + len(chunk.rejected)
                quarantine.write(chunk.rejected)
                mapped, rejected, warns = map_columns(chunk.frame, cfg.input)
                quarantine.write(rejected)
                for k, v in warns.items():
                    res.warnings[k] = res.warnings.get(k, 0) + v
                if len(mapped):
                    yield i, mapped, str(parts)

        def consume(results):
            for written, rejected in results:
                quarantine.write(rejected)
                res.written += written
                if progress:
                    progress(reader.done, reader.total)

        try:
            if self.workers <= 1:
                consume(self.processor.process_to_parts(*job) for job in jobs())
            else:
                ctx = mp.get_context("spawn")
                with ctx.Pool(self.workers, initializer=_init_worker, initargs=(cfg.model_dump_json(),)) as pool:
                    consume(pool.imap(_work, jobs(), chunksize=1))
            store.load_parts(parts)
            if progress:
                progress(reader.total, reader.total)
            if cfg.output.parquet:
                res.files += [str(p) for p in store.export_parquet(out)]
        finally:
            store.close()
            quarantine.close()
            shutil.rmtree(parts, ignore_errors=True)
        build_analysis(out / STORE_NAME, out if cfg.output.parquet else None)
        if cfg.output.report:
            from voc.report.html import write_report

            res.files.append(str(write_report(out)))
        res.quarantined = quarantine.count
        res.reasons = dict(quarantine.reasons)
        res.seconds = round(time.perf_counter() - t0, 3)
        res.files = [str(out / STORE_NAME), str(out / "quarantine.csv"), str(out / "config.yaml"), *res.files]
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
