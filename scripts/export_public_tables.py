"""Write well-known public tables as CSV files, from pip packages that ship them (no download at run time).

    pip install palmerpenguins vega_datasets        # both in the project's dev extra
    python scripts/export_public_tables.py [--out DIR] [NAME ...]

| file                 | package        | rows | target      | what makes it a real table                              |
|----------------------|----------------|------|-------------|---------------------------------------------------------|
| penguins.csv         | palmerpenguins | 344  | species     | text label, text columns island and sex, NA cells       |
| cars.csv             | vega_datasets  | 406  | Origin      | a name per row (Name), a date (Year), empty cells       |
| seattle-weather.csv  | vega_datasets  | 1461 | weather     | a YYYY/MM/DD date column, a text label                  |

The files are the packages' own data, unchanged except that cars (shipped as JSON records) is written as CSV with
null as an empty cell. Nobody here chose or cleaned them: they are what a new user would try the pipeline on.
The packages are found with `importlib.util.find_spec`, so neither is imported (nor pandas with it).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path


def package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed package, or SystemExit naming the pip package to install."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"error: the package {package!r} is not installed: pip install {package}")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise SystemExit(f"error: {path} is missing from the installed {package!r}")
    return path


def copy_file(source: Path, out: Path) -> int:
    shutil.copyfile(source, out)
    with out.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def records_to_csv(source: Path, out: Path) -> int:
    """JSON records (a list of objects) as CSV: columns in the first record's key order, null as an empty cell."""
    records = json.loads(source.read_text(encoding="utf-8"))
    columns = list(records[0])
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for record in records:
            writer.writerow(["" if record.get(c) is None else record[c] for c in columns])
    return len(records)


def penguins(out: Path) -> int:
    return copy_file(package_file("palmerpenguins", "data", "penguins.csv"), out)


def cars(out: Path) -> int:
    return records_to_csv(package_file("vega_datasets", "_data", "cars.json"), out)


def seattle_weather(out: Path) -> int:
    return copy_file(package_file("vega_datasets", "_data", "seattle-weather.csv"), out)


TABLES: dict[str, Callable[[Path], int]] = {
    "penguins": penguins,
    "cars": cars,
    "seattle-weather": seattle_weather,
}


def export(out_dir: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the named tables (default: all) into `out_dir` as NAME.csv; returns name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in names or list(TABLES):
        if name not in TABLES:
            raise SystemExit(f"error: unknown table {name!r}; the tables are {', '.join(TABLES)}")
        path = out_dir / f"{name}.csv"
        rows = TABLES[name](path)
        print(f"{path}  {rows} rows")
        written[name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"tables to write (default: all): {', '.join(TABLES)}")
    parser.add_argument("--out", type=Path, default=Path("public-tables"), help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    export(args.out, args.names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
