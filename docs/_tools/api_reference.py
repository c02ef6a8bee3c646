"""What the API reference needs from the docstrings that Markdown alone does not give it.

A griffe extension, loaded by mkdocstrings (``mkdocs.yml``: ``extensions``), with two jobs:

- a docstring's ``>>>`` examples become ``pycon`` code blocks: as Markdown they would be nested
  blockquotes, run together into one paragraph;
- a msgspec ``Struct`` gets the ``__init__`` msgspec makes for it at run time (its fields, in
  order, with their defaults), so its heading shows the signature like a dataclass's does;
- a default that names a private constant of the module (``_DEFAULT_RATE_LIMIT``) shows its
  value: the reader cannot look the private name up.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Attribute, Class, Extension, Function, Object, Parameter, ParameterKind, Parameters

DOCTEST_FLAGS = re.compile(r"\s*#\s*doctest:.*$")


def doctest_as_code(text: str) -> str:
    """``text`` with every run of ``>>>`` lines (with their ``...`` lines and output) fenced as code."""
    lines, out, index = text.splitlines(), [], 0
    while index < len(lines):
        line = lines[index]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            index += 1
            continue
        indent = line[:len(line) - len(line.lstrip())]
        if out and out[-1].strip():
            out.append("")
        out.append(f"{indent}```pycon")
        while index < len(lines) and lines[index].strip():
            out.append(DOCTEST_FLAGS.sub("", lines[index]))
            index += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class ApiReference(Extension):
    """Doctest examples as code, and signatures for msgspec Structs."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = doctest_as_code(obj.docstring.value)

    def on_class_members(self, *, cls: Class, **kwargs: Any) -> None:
        self._add_struct_init(cls)
        for member in cls.members.values():
            if isinstance(member, Function):
                for parameter in member.parameters:
                    name = str(parameter.default)
                    constant = cls.module.members.get(name) if name.startswith("_") else None
                    if isinstance(constant, Attribute) and constant.value is not None:
                        parameter.default = constant.value

    @staticmethod
    def _add_struct_init(cls: Class) -> None:
        if "__init__" in cls.members or not any(str(base) in ("msgspec.Struct", "Struct") for base in cls.bases):
            return
        fields = [member for member in cls.members.values() if isinstance(member, Attribute)
                  and member.annotation is not None and "property" not in member.labels
                  and not str(member.annotation).startswith("ClassVar")]
        parameters = [Parameter("self", kind=ParameterKind.positional_or_keyword)]
        parameters += [Parameter(field.name, annotation=field.annotation, kind=ParameterKind.positional_or_keyword,
                                 default=field.value, docstring=field.docstring) for field in fields]
        cls.set_member("__init__", Function("__init__", lineno=cls.lineno, endlineno=cls.lineno, parent=cls,
                                            parameters=Parameters(*parameters), returns="None"))
