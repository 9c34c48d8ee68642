"""CSV for operators: one header line, then one line per row, safe to open in a spreadsheet.

Why cells are defused (CSV injection, OWASP): a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is read by Excel and LibreOffice as a formula, and a caller's
name or a forged number is input from the PBX. Such a cell is written with a leading ``'``
(shown as text, not evaluated) — unless it is a plain number: digits, spaces and ``+ - ( )
.`` only (``+375 29 123-45-67``, ``-1``), which can compute nothing and stays as the PBX wrote it.
Times are ISO 8601 in UTC, lists and objects JSON, booleans ``true``/``false``, NULL empty.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[0-9 +\-().]*[0-9][0-9 +\-().]*")


def cell(value: Any) -> str:
    """One value as the text of a CSV cell, defused when a spreadsheet would evaluate it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    if text.startswith(_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The header, then each row, one CSV line (``\\r\\n``-terminated, RFC 4180) at a time:
    nothing is held but the line being written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(columns)
    for row in rows:
        yield line(cell(row.get(name)) for name in columns)
