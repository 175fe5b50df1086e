"""A one-file HTML report (PNGs embedded as base64) and a Markdown twin (PNGs linked), from report sections.

A section is a dict: {"title", "text" (optional), "table": {name: value} (optional), "images": [(caption,
path)], "passages": [(caption, text)] (optional: generated text, shown verbatim), "error": str (optional: the
section is shown as skipped/failed)}.
"""

from __future__ import annotations

import base64
import html
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genzoo.io import atomic_write_bytes

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #bbb}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .7em;text-align:left}
th{background:#f3f3f3}.figs{display:flex;flex-wrap:wrap;gap:1.2em}
figure{margin:0}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;white-space:pre-wrap;max-width:900px}
figure img{max-width:480px;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}
.err{color:#a00}.muted{color:#777;font-size:.9em}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_report(out_dir: str | os.PathLike, title: str, sections: Sequence[Mapping[str, Any]],
                 intro: str = "", name: str = "report") -> tuple[Path, Path]:
    """Write `out_dir/report.html` (self-contained) and `out_dir/report.md`; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    h = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
         f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
         f"<p class='muted'>generated {stamp}</p>"]
    md = [f"# {title}", "", f"_generated {stamp}_", ""]
    if intro:
        h.append(f"<p>{html.escape(intro)}</p>")
        md += [intro, ""]
    for s in sections:
        h.append(f"<h2>{html.escape(str(s['title']))}</h2>")
        md += [f"## {s['title']}", ""]
        if s.get("text"):
            h.append(f"<p>{html.escape(str(s['text']))}</p>")
            md += [str(s["text"]), ""]
        if s.get("error"):
            h.append(f"<p class='err'>{html.escape(str(s['error']))}</p>")
            md += [f"**{s['error']}**", ""]
        table = s.get("table") or {}
        if table:
            h.append("<table><tr><th>quantity</th><th>value</th></tr>")
            h += [f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in table.items()]
            h.append("</table>")
            md += ["| quantity | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in table.items()] + [""]
        for cap, text in s.get("passages", []):
            h.append(f"<p class='muted'>{html.escape(cap)}</p><pre>{html.escape(text)}</pre>")
            md += [f"_{cap}_", "", "```text", text, "```", ""]
        figs = [(c, Path(p)) for c, p in s.get("images", []) if p is not None and Path(p).is_file()]
        if figs:
            h.append("<div class='figs'>")
            for cap, p in figs:
                b64 = base64.b64encode(p.read_bytes()).decode()
                h.append(f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")
                rel = os.path.relpath(p, out_dir).replace(os.sep, "/")
                md += [f"![{cap}]({rel})", "", f"_{cap}_", ""]
            h.append("</div>")
    h.append("</body></html>")
    html_path, md_path = out_dir / f"{name}.html", out_dir / f"{name}.md"
    atomic_write_bytes(html_path, "\n".join(h).encode())
    atomic_write_bytes(md_path, "\n".join(md).encode())
    return html_path, md_path
