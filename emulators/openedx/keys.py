"""Course keys (``course-v1:{org}+{number}+{run}``), validated like opaque-keys' ``CourseLocator``."""

from __future__ import annotations

import re
from dataclasses import dataclass

# opaque-keys allows word characters (Unicode), "-", "~", "." and ":" in each part.
_PART = r"[\w\-~.:]+"
PART_RE = re.compile(_PART)
COURSE_KEY_RE = re.compile(rf"course-v1:(?P<org>{_PART})\+(?P<number>{_PART})\+(?P<run>{_PART})")
# Usernames as edX's URL patterns accept them (use ``fullmatch`` with all of these).
USERNAME_RE = re.compile(r"[\w.@+-]+")


@dataclass(frozen=True)
class CourseKey:
    """A parsed ``course-v1`` key."""

    org: str
    number: str
    run: str

    def __str__(self) -> str:
        return f"course-v1:{self.org}+{self.number}+{self.run}"


def parse_course_key(value: object) -> CourseKey | None:
    """The parsed key, or ``None`` when ``value`` is not a valid ``course-v1`` key."""
    if not isinstance(value, str):
        return None
    match = COURSE_KEY_RE.fullmatch(value)
    if match is None:
        return None
    return CourseKey(match["org"], match["number"], match["run"])


def valid_part(value: object) -> bool:
    """Whether ``value`` can be the org, number or run of a course key."""
    return isinstance(value, str) and PART_RE.fullmatch(value) is not None


def make_course_key(org: str, number: str, run: str) -> CourseKey | None:
    """The key for these parts, or ``None`` when one of them holds characters keys cannot carry."""
    if not (valid_part(org) and valid_part(number) and valid_part(run)):
        return None
    return CourseKey(org, number, run)
