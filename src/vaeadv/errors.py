"""One exception type for problems the user can fix (bad file, wrong flag, missing data).

The CLI prints its message as one paragraph and exits 1; anything else is a bug and keeps its traceback.
"""


class VaeadvError(Exception):
    """A user-facing error: the message says what is wrong and how to fix it."""
