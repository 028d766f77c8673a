"""The one error type for a user's mistake: a bad input file, a bad parameter, a missing trained artifact.

Every CLI answers an `InputError` with one line (`<prog>: error: ...`) and exit status 1; the
Prefect flows see that line and do not retry. Anything else is a bug or a transient failure: it
keeps its traceback, and the flows retry it.

It subclasses ValueError so that callers that already catch a bad value keep working.
"""

from __future__ import annotations


class InputError(ValueError):
    """A mistake the user can fix in their inputs or params; the message says what to fix."""
