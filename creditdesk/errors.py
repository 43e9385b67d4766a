"""The one exception type that means "the caller gave us bad input".

Every room raises ``InputError`` (or a subclass) for input it refuses; the CLI turns it
into exit code 2 with its message as one line on stderr, the HTTP layer into a 4xx.
Anything else escaping is a bug in creditdesk, not in the caller's input.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message names the field (or file) and the rule it broke."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def one_line(self) -> str:
        text = " ".join(str(self).split())
        return f"{self.field}: {text}" if self.field and not text.startswith(self.field) else text
