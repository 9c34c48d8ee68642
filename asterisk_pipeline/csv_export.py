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

_TRIGGERS = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"[0-9 +\-().]*[0-9][0-9 +\-().]*")
#: Rows per chunk a stream yields: one write per chunk, not per row (an ASGI send and a thread
#: hop each), and still a few hundred KB at most.
ROWS_PER_CHUNK = 500


def cell(value: Any) -> str:
    """One value as the text of a CSV cell, defused when a spreadsheet would evaluate it."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        text: str = value
    elif kind is bool:
        return "true" if value else "false"
    elif kind is int or kind is float:
        return str(value)  # a number, negative or not, computes nothing
    elif isinstance(value, datetime):
        return value.isoformat()
    elif isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    if text and text[0] in _TRIGGERS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_chunks(columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
               rows_per_chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    """The header and the rows as CSV text (``\r\n`` line ends, RFC 4180), a chunk of whole
    lines at a time: nothing is held but the chunk being written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    pending = 0
    for row in rows:
        writer.writerow([cell(row[name]) for name in columns])
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()
