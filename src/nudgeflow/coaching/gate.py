"""The quality gate: what to do with a rated draft. Pure.

- The reviewer recommends REVISE and no revision was made yet: revise (once, by default).
- Otherwise the draft is sent when its rating reaches the threshold (6 by default) and the
  reviewer did not say SKIP; a revised draft that is again asked to be revised is judged on its
  rating alone.
- Otherwise it is held, with a reason that names the rating and the threshold."""

from __future__ import annotations

from dataclasses import dataclass

from nudgeflow.coaching.base import Rating, Recommendation


@dataclass(frozen=True, slots=True)
class Gate:
    threshold: int = 6
    revisions: int = 1

    def verdict(self, rating: Rating, revisions_done: int) -> Recommendation:
        if rating.recommendation is Recommendation.REVISE and revisions_done < self.revisions:
            return Recommendation.REVISE
        if rating.score >= self.threshold and rating.recommendation is not Recommendation.SKIP:
            return Recommendation.SEND
        return Recommendation.SKIP

    def why_held(self, rating: Rating) -> str:
        said = f": {rating.reason}" if rating.reason else ""
        if rating.score < self.threshold:
            return f"rated {rating.score}/10, below the threshold of {self.threshold}{said}"
        return f"rated {rating.score}/10 but the reviewer recommended {rating.recommendation}{said}"
