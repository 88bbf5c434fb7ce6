"""Which of the media types we offer an `Accept` header prefers (RFC 9110, section 12.5.1)."""

from __future__ import annotations

from collections.abc import Sequence


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    """(range, q) pairs of an Accept header; ranges lower-cased, bad q values skipped."""
    ranges = []
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        if not media:
            continue
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
        if 0.0 <= q <= 1.0:
            ranges.append((media.lower(), q))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """q of `offer` by its most specific matching range (0 when none matches)."""
    kind = offer.split("/")[0]
    best_specificity, quality = -1, 0.0
    for media, q in ranges:
        if media == offer:
            specificity = 2
        elif media == f"{kind}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, quality = specificity, q
    return quality


def preferred(accept: str | None, offers: Sequence[str]) -> str:
    """The offer the header prefers; ties and a missing header go to the first offer."""
    if not accept:
        return offers[0]
    ranges = _media_ranges(accept)
    best = max(offers, key=lambda offer: (_quality(offer, ranges), -offers.index(offer)))
    return best
