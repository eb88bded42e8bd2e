"""Shared fixtures: tiny Chinese VoC dumps written for these tests, in every supported format."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

HEADER = ["编号", "日期", "渠道", "业务线", "城市", "NPS", "内容"]
ROWS = [
    ["A1", "2026-05-03 10:00:00", "App", "外卖", "上海", "9", "味道很好，但是送得太慢了，等了一个小时"],
    ["A2", "2026/6/7", "问卷", "酒店", "北京", "10", "前台服务很热情，房间干净，位置方便"],
    ["A3", "2026年7月8日", "热线", "电商", "广州", "3", "发错货了，客服一直不回复，联系13812345678"],
    ["A4", "2026-08-01", "App", "电商", "上海", "N/A", "默认好评"],
    ["A5", "2026-08-02", "微博", "酒店", "成都", "5", "   "],
    ["A6", "昨天", "App", "外卖", "上海", "11", "包装破损，汤洒了一半😡"],
    ["A7", "2026-09-10", "问卷", "电商", "杭州", "8分", "價格實惠，物流很快"],
]

# A taxonomy of one's own and comments labelled to it (eval and train tests)
BANK_YAML = """
name: bank
categories:
  - key: branch
    name: 网点服务
    keywords: [网点, 柜台, 窗口]
  - key: app
    name: 手机银行
    keywords: [手机银行, app]
    cues:
      negative: [闪退]
"""
BANK_ROWS = [("网点窗口太少，排队两小时", "negative", "branch:negative"),
             ("手机银行很好用，转账秒到", "positive", "app:positive"),
             ("app老是闪退", "negative", "app:negative"),
             ("柜台工作人员很耐心", "positive", "branch:positive"),
             ("今天天气不错", "neutral", "")]


@pytest.fixture()
def rows() -> list[list[str]]:
    return [list(r) for r in ROWS]


def write_csv(path: Path, rows, encoding="utf-8", delimiter=","):
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


@pytest.fixture()
def csv_utf8(tmp_path, rows) -> Path:
    return write_csv(tmp_path / "fb.csv", rows)


@pytest.fixture()
def csv_gbk(tmp_path, rows) -> Path:
    # GBK cannot hold emoji; write the emoji row without it.
    rows = [[c.replace("😡", "") for c in r] for r in rows]
    return write_csv(tmp_path / "fb_gbk.csv", rows, encoding="gbk")


@pytest.fixture()
def csv_bom(tmp_path, rows) -> Path:
    return write_csv(tmp_path / "fb_bom.csv", rows, encoding="utf-8-sig")


@pytest.fixture()
def tsv_file(tmp_path, rows) -> Path:
    return write_csv(tmp_path / "fb.tsv", rows, delimiter="\t")


@pytest.fixture()
def xlsx_file(tmp_path, rows) -> Path:
    p = tmp_path / "fb.xlsx"
    pd.DataFrame(rows, columns=HEADER).to_excel(p, index=False)
    return p


@pytest.fixture()
def jsonl_file(tmp_path, rows) -> Path:
    p = tmp_path / "fb.jsonl"
    with open(p, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(dict(zip(HEADER, r)), ensure_ascii=False) + "\n")
        f.write("{这不是 JSON\n")
        f.write("[1, 2]\n")
    return p


@pytest.fixture()
def parquet_file(tmp_path, rows) -> Path:
    p = tmp_path / "fb.parquet"
    pd.DataFrame(rows, columns=HEADER).to_parquet(p)
    return p


def pipeline_data(path: Path, out: Path, **extra) -> dict:
    """A pipeline config mapping the fixture columns."""
    data = {
        "name": "test",
        "input": {"path": str(path), "chunk_size": 3,
                  "columns": {"text": "内容", "id": "编号", "date": "日期", "channel": "渠道", "nps": "NPS",
                              "segments": {"product_line": "业务线", "city": "城市"}}},
        "output": {"dir": str(out), "report": False},
        "workers": 1,
    }
    data.update(extra)
    return data


def write_taxonomy(folder: Path, text: str, name: str = "mini.yaml") -> str:
    """Write a taxonomy YAML given as an indented string; returns its path."""
    import textwrap

    p = Path(folder) / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(p)
