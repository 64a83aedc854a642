"""Query understanding: text → a typed ParsedQuery. Pure and synchronous: no I/O per call."""

from nlu.parser import Parser, configure, configured_lexicon, default_parser, parse
from nlu.query import Correction, Intent, ParsedQuery

__all__ = [
    "Correction",
    "Intent",
    "ParsedQuery",
    "Parser",
    "configure",
    "configured_lexicon",
    "default_parser",
    "parse",
]
