"""Reading a served page the way a person does: its tables' cell text, its links."""

from __future__ import annotations

from html.parser import HTMLParser


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[tuple[str, str]] = []
        self._table: str | None = None
        self._in_head = False
        self._cell: list[str] | None = None
        self._href: str | None = None
        self._link_text: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.elements.append((tag, found))
        if tag == "table":
            self._table = found.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and not self._in_head and self._table is not None:
            self._cell = []
        elif tag == "a":
            self._href, self._link_text = found.get("href"), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._link_text).strip()))
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._href is not None:
            self._link_text.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    """Every table's rows outside its head (cell text, whitespace collapsed), by the table's
    id (`table<N>` for a table without one)."""
    page = _Page()
    page.feed(html)
    return page.tables


def links(html: str) -> list[tuple[str, str]]:
    """Every link: (href, text)."""
    page = _Page()
    page.feed(html)
    return page.links


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element the browser would build: (tag, attributes)."""
    page = _Page()
    page.feed(html)
    return page.elements
