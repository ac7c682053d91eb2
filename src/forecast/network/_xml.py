"""A small XML tree with line numbers, for the XMLBIF and XDSL readers.

:mod:`xml.etree.ElementTree` does not say on which line an element starts, so the readers could
not point at the table that is wrong. This builds the same kind of tree with Python's expat
binding, recording each element's line. It is as strict as expat about well-formedness (a
truncated file is an error at its last line) and refuses entity declarations outright (an
interchange file has no use for them, and they are how "billion laughs" files blow up);
external entities are never fetched.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from collections.abc import Iterator
from dataclasses import dataclass, field

from forecast.errors import Problem, SpecError
from forecast.network._formats import Source

__all__ = ["Element", "parse_xml"]


@dataclass
class Element:
    """An XML element: tag, attributes, the line it starts on, children and text."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    parts: list[str] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        """The element's own text (not its children's), whitespace kept."""
        return "".join(self.parts)

    def all(self, *tags: str, fold: bool = False) -> Iterator[Element]:
        """The children whose tag is one of `tags` (compared upper-case if `fold`)."""
        wanted = {t.upper() for t in tags} if fold else set(tags)
        return (c for c in self.children if (c.tag.upper() if fold else c.tag) in wanted)

    def first(self, *tags: str, fold: bool = False) -> Element | None:
        """The first child whose tag is one of `tags`, or None."""
        return next(self.all(*tags, fold=fold), None)


class _Refused(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line, self.message = line, message


def parse_xml(source: Source, kind: str) -> Element:
    """Parse a file's XML into a tree of :class:`Element`.

    Parameters
    ----------
    source : Source
        The file's bytes (expat reads the encoding from the XML declaration) or given text.
    kind : str
        The format's name, for messages.

    Returns
    -------
    Element
        The root element.

    Raises
    ------
    SpecError
        For XML that is not well formed (with expat's reason, line and column) or declares
        entities, naming the file.
    """
    parser = expat.ParserCreate()
    parser.buffer_text = True
    stack: list[Element] = []
    roots: list[Element] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        element = Element(tag, attrib, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(_: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].parts.append(data)

    def entity(name: str, *_: object) -> None:
        raise _Refused(parser.CurrentLineNumber, f"the file declares an XML entity ('{name}'), "
                                                 "which network files do not use")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.EntityDeclHandler = entity
    try:
        if source.given is not None:
            parser.Parse(source.given, True)
        else:
            parser.Parse(source.raw, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code) if exc.code is not None else str(exc)
        problem = Problem(f"not well-formed XML: {reason} (column {exc.offset + 1})",
                          file=source.label, line=exc.lineno)
        raise SpecError(f"cannot parse {kind} file '{source.label}'", [problem]) from None
    except _Refused as exc:
        raise SpecError(f"cannot parse {kind} file '{source.label}'",
                        [Problem(exc.message, file=source.label, line=exc.line)]) from None
    assert roots, "expat accepts no document without a root element"
    return roots[0]
