"""Query understanding: text → a typed ParsedQuery. Pure and synchronous: no I/O per call."""

from nlu.parser import Parser, configure, default_parser, parse
from nlu.query import Correction, Intent, ParsedQuery

__all__ = ["Correction", "Intent", "ParsedQuery", "Parser", "configure", "default_parser", "parse"]
