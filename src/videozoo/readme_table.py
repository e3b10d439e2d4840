"""Rewrite the model zoo table in README.md from the registry: `python -m videozoo.readme_table README.md`."""

from __future__ import annotations

import sys
from pathlib import Path

from .models.cards import format_table, zoo_rows

START, END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"


def render(readme: str) -> str:
    if START not in readme or END not in readme:
        raise ValueError(f"README has no {START} … {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{format_table(zoo_rows(), markdown=True)}\n{END}{tail}"


def main(path: str = "README.md") -> None:
    file = Path(path)
    file.write_text(render(file.read_text()))
    print(f"updated the zoo table in {file}")


if __name__ == "__main__":
    main(*sys.argv[1:])
