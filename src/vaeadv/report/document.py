"""A report as a list of blocks, rendered twice: Markdown (figures linked beside it) and one self-contained
HTML file (figures embedded as data URIs). Only the few block kinds a results report needs."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str  # may hold **bold** and `code`


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    path: str | None  # relative to the report folder
    caption: str


@dataclass
class Missing:
    what: str
    how: str


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)


def to_markdown(doc: Document, root: Path) -> str:
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            if b.caption:
                out += [f"*{b.caption}*", ""]
            out += ["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)]
            out += ["| " + " | ".join(row) + " |" for row in b.rows] + [""]
        elif isinstance(b, Figure):
            if b.path and (root / b.path).exists():
                out += [f"![{b.caption}]({b.path})", "", f"*{b.caption}*", ""]
            else:
                out += [f"> **Figure missing:** {b.caption} (`{b.path}` was not produced by this run).", ""]
        elif isinstance(b, Missing):
            out += [f"> **Missing:** {b.what}. {b.how}", ""]
    return "\n".join(out)


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", text)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
         "table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #bbb;padding:.25rem .5rem;"
         "text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}"
         "img{max-width:100%}figure{margin:1rem 0}figcaption{font-style:italic;font-size:.9em}"
         ".missing{border-left:4px solid #c33;background:#fee;padding:.5rem}code{background:#f4f4f4}")


def to_html(doc: Document, root: Path) -> str:
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>",
           f"<h1>{html.escape(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            cap = f"<caption>{_inline(b.caption)}</caption>" if b.caption else ""
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            out.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Figure):
            if b.path and (root / b.path).exists():
                out.append(f'<figure><img src="{_data_uri(root / b.path)}" alt="{html.escape(b.caption)}">'
                           f"<figcaption>{_inline(b.caption)}</figcaption></figure>")
            else:
                out.append(f'<p class="missing"><strong>Figure missing:</strong> {_inline(b.caption)}</p>')
        elif isinstance(b, Missing):
            out.append(f'<p class="missing"><strong>Missing:</strong> {_inline(b.what)}. {_inline(b.how)}</p>')
    out.append("</body></html>")
    return "\n".join(out)
