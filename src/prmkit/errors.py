"""The one error type prmkit raises for bad input.

Every message names where the problem is: the file, the line (1-based) and the field.

Example:
    >>> err = PrmkitError("must be a list of strings", file="a.jsonl", line=3, field="steps")
    >>> str(err)
    "a.jsonl:3: field 'steps': must be a list of strings"
"""

from __future__ import annotations


class PrmkitError(ValueError):
    """Bad input or configuration, located by file, line and field where known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
        elif self.line is not None:
            where = f"line {self.line}"
        parts = []
        if where:
            parts.append(where)
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message

    def located(self, *, file: str | None = None, line: int | None = None) -> PrmkitError:
        """Return a copy with file/line filled in where they were unknown."""
        return PrmkitError(
            self.message,
            file=self.file if self.file is not None else file,
            line=self.line if self.line is not None else line,
            field=self.field,
        )
