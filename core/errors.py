"""The one exception type whose message is shown to the user as is, without a traceback.

Every package raises a subclass of `SkelwatchError` for bad input (a wrong joint count, a corrupt file, a
missing device, a locked database). Its message names the thing, the problem and the fix; `main.py` prints it
and exits non-zero. Programming errors stay ordinary exceptions, so they keep their traceback.

It lives below every package (import-linter's layers put `core` at the bottom), so raising a user error does
not make a package depend on another one.
"""


class SkelwatchError(Exception):
    """Bad input or a missing resource, explained for the user."""
