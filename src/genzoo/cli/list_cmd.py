"""`genzoo list`: model families, models (with their likelihood type) and data sets, as tables."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("list", help="list model families, models and data sets", description=__doc__.splitlines()[0])
    p.add_argument("what", nargs="?", choices=("all", "models", "data"), default="all")
    p.set_defaults(func=run)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if (doc or "").strip() else ""


def run(args) -> int:
    from genzoo.models import families, get_class
    from genzoo.train.run import data_names

    if args.what in ("all", "models"):
        rows = []
        for fam, names in sorted(families().items()):
            for n in names:
                cls = get_class(n)
                rows.append([fam, n, cls.likelihood, _first_line(cls.__doc__)[:70]])
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
