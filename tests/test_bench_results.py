"""``make bench`` and ``make bench-peers`` share bench/results.json and the README: each
replaces only its own figures and README block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import _results


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_results, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(_results, "README", tmp_path / "README.md")
    (tmp_path / "results.json").write_text(json.dumps({"figures": {
        "peer_old": {"value": 1, "unit": "x"}, "step": {"value": 2, "unit": "ms"}}}))
    return tmp_path


def test_bench_keeps_the_peers_figures_and_each_keeps_the_others(files: Path) -> None:
    figures = _results.write_results({"step": {"value": 3, "unit": "ms"}},
                                     keep=lambda n: n.startswith(_results.PEER_PREFIX))
    assert figures == {"step": {"value": 3, "unit": "ms"}, "peer_old": {"value": 1, "unit": "x"}}
    figures = _results.write_results({"peer_new": {"value": 4, "unit": "x"}},
                                     keep=lambda n: not n.startswith(_results.PEER_PREFIX),
                                     peers={"versions": {"a": "1"}})
    document = json.loads((files / "results.json").read_text())
    assert document["figures"] == figures == {"step": {"value": 3, "unit": "ms"},
                                              "peer_new": {"value": 4, "unit": "x"}}
    assert document["peers"] == {"versions": {"a": "1"}}


def test_replace_block_touches_only_its_own_markers(files: Path) -> None:
    readme = files / "README.md"
    readme.write_text("a\n<!-- bench:start -->\nold\n<!-- bench:end -->\n"
                      "<!-- bench-peers:start -->\nold\n<!-- bench-peers:end -->\n")
    _results.replace_block("bench-peers", ["| new | \\1 |"])
    assert readme.read_text() == ("a\n<!-- bench:start -->\nold\n<!-- bench:end -->\n"
                                  "<!-- bench-peers:start -->\n| new | \\1 |\n"
                                  "<!-- bench-peers:end -->\n")


def test_every_benchmark_module_imports_and_measures() -> None:
    # ``make test`` does not run the benchmarks (they take minutes and want a quiet machine), so
    # at least their modules must load: a renamed helper must not first fail in ``make bench``.
    # (The peers' benchmark needs the optional ``peers`` extra, which ``make test`` does not
    # install.)
    from bench.__main__ import BENCHMARKS

    assert set(BENCHMARKS) >= {"floor", "step_overhead", "fanout", "history", "tracing"}
    assert all(callable(getattr(module, "measure", None)) for module in BENCHMARKS.values())
