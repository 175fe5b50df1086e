"""`genzoo list`: model families, models (likelihood type, data kinds accepted) and data sets, as tables."""

from __future__ import annotations

import re

from genzoo.cli.text import description

_SENTENCE_END = re.compile(r"(?<=\.)(?<!\bal\.)(?<!e\.g\.)(?<!i\.e\.)\s+(?=[A-Z`(])")  # not after "et al."


def register(sub) -> None:
    p = sub.add_parser("list", help="list model families, models and data sets", description=description(__doc__))
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


def _tables() -> tuple[list[dict], list[str]]:
    """The catalog, plus whatever a running program registered beyond it: models in an already imported registry
    and data sets of an already imported genzoo.data (neither is imported here: no torch for `genzoo list`)."""
    import sys

    from genzoo.catalog import DATA, MODELS

    models, data = list(MODELS), list(DATA)
    reg = sys.modules.get("genzoo.models.registry")
    if reg is not None:
        known = {m["name"] for m in models}
        for name, cls in sorted(reg._REGISTRY.items()):
            if name not in known:
                models.append({"name": name, "family": cls.family, "likelihood": cls.likelihood,
                               "data_kinds": list(cls.data_kinds), "description": summary(cls.__doc__)})
    if "genzoo.data" in sys.modules:
        from genzoo.train.run import data_names

        data = data_names()
    return models, data


def run(args) -> int:
    """Print the tables from `genzoo.catalog` (no torch import: `genzoo list` starts in a fraction of a second)."""
    models, data = _tables()
    if args.what in ("all", "models"):
        rows = [[m["family"], m["name"], m["likelihood"], ", ".join(m["data_kinds"]), m["description"]]
                for m in sorted(models, key=lambda m: (m["family"], m["name"]))]
        print(f"Models ({len(rows)}):")
        print(table(rows, ["family", "model", "likelihood", "data", "description"]) if rows else "  (none registered)")
    if args.what in ("all", "data"):
        if args.what == "all":
            print()
        print(f"Data sets ({len(data)}):")
        print(table([[n] for n in data], ["name"]) if data else "  (none found)")
        print("  (or a path: a folder of images, a .npy / .npz file, a .csv / .tsv table of points, or a .txt text)")
    return 0
