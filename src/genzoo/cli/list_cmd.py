"""`genzoo list`: model families, models (with their likelihood type) and data sets, as tables."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=\.)(?<!\bal\.)(?<!e\.g\.)(?<!i\.e\.)\s+(?=[A-Z`(])")  # not after "et al."


def register(sub) -> None:
    p = sub.add_parser("list", help="list model families, models and data sets", description=__doc__.splitlines()[0])
    p.add_argument("what", nargs="?", choices=("all", "models", "data"), default="all")
    p.set_defaults(func=run)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def summary(doc: str | None, width: int = 80) -> str:
    """The first sentence of a docstring's first paragraph, cut at a word boundary (with "...") past `width`."""
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    para = _SENTENCE_END.split(para, maxsplit=1)[0]
    if len(para) <= width:
        return para
    return para[: width - 3].rsplit(" ", 1)[0].rstrip(" ,;:(") + "..."


def run(args) -> int:
    from genzoo.models import families, get_class
    from genzoo.train.run import data_names

    if args.what in ("all", "models"):
        rows = []
        for fam, names in sorted(families().items()):
            for n in names:
                cls = get_class(n)
                rows.append([fam, n, cls.likelihood, summary(cls.__doc__)])
        print(f"Models ({len(rows)}):")
        print(table(rows, ["family", "model", "likelihood", "description"]) if rows else "  (none registered)")
    if args.what in ("all", "data"):
        if args.what == "all":
            print()
        names = data_names()
        print(f"Data sets ({len(names)}):")
        print(table([[n] for n in names], ["name"]) if names else "  (none found)")
        print("  (or a path: a folder of images or a .npy file)")
    return 0
