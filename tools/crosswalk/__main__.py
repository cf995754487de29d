"""python -m tools.crosswalk {gaps,coverage,docs,catalogue}: the pack against the linters' default check sets.

gaps       the applicable default checks no rule covers, per linter (exit 1 if any linter is below the goal)
coverage   the per-linter table
docs       writes docs/policy-crosswalk.md from the data
catalogue  regenerates the Checkov and kube-score check lists from their packages
"""

from __future__ import annotations

import argparse
import sys

from tools.crosswalk import catalogue, coverage, docs, kinds


def _measured() -> dict[str, coverage.Coverage]:
    from policies.rules import POLICIES

    return coverage.measure_all(catalogue.load_all(), POLICIES, catalogue.differences(), kinds.emitted())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.crosswalk", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("gaps", "coverage", "docs", "catalogue"))
    args = parser.parse_args(argv)
    if args.command == "catalogue":
        from tools.crosswalk import extract

        for path in extract.regenerate():
            print(f"wrote {path}")
        return 0
    measured = _measured()
    if args.command == "docs":
        print(f"wrote {docs.write(measured)}")
        return 0
    print(docs.table(measured))
    if args.command == "gaps":
        for linter, result in measured.items():
            print(f"\n{linter}: {docs.percent(result.ratio)}, {len(result.gaps)} uncovered applicable default check(s)")
            for check in result.gaps:
                print(f"  {check.id}  ({check.name}; {', '.join(sorted(check.kinds))})")
            partly = [r for r in result.rows if r.status == coverage.PARTLY and r.check.default]
            if partly:
                print("  covered in part (half each):")
            for row in partly:
                print(f"    {row.check.id}  by {', '.join(row.rules)}")
    return 0 if all(r.ratio >= coverage.GOAL for r in measured.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
