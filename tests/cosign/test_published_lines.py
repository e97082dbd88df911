"""A co-signer's own sources of published lines (offchain/cosign/verifier.py, `published_lines`): only the
wanted sequences are parsed; a malformed wanted line is an error naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offchain.cosign.verifier import published_lines


def _file(tmp: Path, *lines: object) -> Path:
    path = tmp / "fills.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_only_wanted_lines_are_read(tmp_path: Path) -> None:
    header = {"format": "crossclear-fills/1", "venues": {}, "instruments": []}
    path = _file(tmp_path, header, {"sequence": 1, "context": None, "fills": []}, {"sequence": 2, "oops": 1})
    (line,) = published_lines(str(path), {1})
    assert (line.sequence, line.context, line.fills) == (1, None, ())
    assert published_lines(str(path), {7}) == []
    with pytest.raises(ValueError, match=r"fills\.jsonl:3"):
        published_lines(str(path), {2})


def test_an_unreadable_source_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        published_lines(str(tmp_path / "absent.jsonl"), {1})
