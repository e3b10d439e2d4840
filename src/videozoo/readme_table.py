"""Rewrite the generated tables in the docs: `python -m videozoo.readme_table README.md docs/weights.md`.

A file holds a table between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``: ``zoo-table`` (the model
zoo, from the registry) or ``weights-table`` (the published weights, from the catalogue).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .models.cards import format_table, zoo_rows


def _weights_table() -> str:
    from .weights.catalogue import CATALOGUE, markdown_table

    return markdown_table(CATALOGUE)


TABLES: dict[str, Callable[[], str]] = {
    "zoo-table": lambda: format_table(zoo_rows(), markdown=True),
    "weights-table": _weights_table,
}


def render(text: str) -> str:
    """``text`` with every table it marks regenerated."""
    found = False
    for name, table in TABLES.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            text = f"{head}{start}\n{table()}\n{end}{tail}"
            found = True
    if not found:
        raise ValueError(f"no table markers ({', '.join(f'<!-- {n}:start -->' for n in TABLES)}) found")
    return text


def main(*paths: str) -> None:
    for path in paths or ("README.md",):
        file = Path(path)
        file.write_text(render(file.read_text()))
        print(f"updated the generated tables in {file}")


if __name__ == "__main__":
    main(*sys.argv[1:])
