"""What keeps a kill and a bad input harmless, written once for every module: files replaced
atomically, an exception told in one line, and a command line that ends in one line naming
the problem (exit status 1, no traceback)."""

import contextlib
import os


def replace_atomically(path, write):
    """Make `path` by `write(tmp)` on a temporary name beside it, then rename: a crash leaves
    the old file or the new one, never half of one. The temporary name keeps the extension
    (Keras writes a model only to a name ending in .keras)."""
    path = os.fspath(path)
    root, extension = os.path.splitext(path)
    tmp = f"{root}.tmp{extension}"
    write(tmp)
    os.replace(tmp, path)


def first_line(error, default=""):
    """The first line of an exception's message (`default` if it has none), for one-line
    statuses and errors."""
    return (str(error).strip().splitlines() or [default])[0]


@contextlib.contextmanager
def one_line_errors(script, errors=(ValueError, OSError)):
    """Bad input (one of `errors`) ends the script with one line `SCRIPT: message`, exit status
    1, no traceback."""
    try:
        yield
    except errors as e:
        raise SystemExit(f"{script}: {first_line(e, type(e).__name__)}") from None
