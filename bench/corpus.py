"""How many expressions of the public peer corpora the grammar reads right.

    python -m bench.corpus [--misses]

On tests/data/time-corpus (see its README): Duckling's English vectors whose grain is hour,
minute or second (section not `latent`) and Recognizers-Text's single datetime /
datetimerange vectors; the share whose start we read exactly, to the minute.
Goal (issue 5): Duckling >= 65% (the best peer reads 47.5%).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nudgeflow.agenda.corpus import Score, duckling_cases, recognizers_cases, score

CORPUS = Path(__file__).parent.parent / "tests" / "data" / "time-corpus"


def show(result: Score, misses: bool) -> None:
    print(f"{result.name:<16} {result.hits:>4} / {result.total:<4} = {result.share:.1%}")
    if misses:
        for case, got in result.misses:
            wanted = "-" if case.start is None else case.start.isoformat(timespec="minutes")
            said = "-" if got is None else got.isoformat(timespec="minutes")
            print(f"    {case.text!r:<60} wanted {wanted:<16} read {said}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", action="store_true", help="list what we read wrong")
    args = parser.parse_args()
    show(score("duckling-en", duckling_cases(CORPUS / "duckling-en.json")), args.misses)
    show(score("recognizers-en", recognizers_cases(CORPUS / "recognizers-en.json")), args.misses)
    print("\ngoal: duckling-en >= 65% (best peer 47.5%)")


if __name__ == "__main__":
    main()
