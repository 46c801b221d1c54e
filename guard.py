"""What keeps a kill and a bad input harmless, written once for every module: files replaced
atomically, an exception told in one line, and a command line that ends in one line naming
the problem (exit status 1, no traceback); JSON files written atomically, and JSON-lines files
appended to line by line, each line on disk before the writer goes on."""

import contextlib
import json
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


# Files that survive a kill


def append_jsonl(path, data):
    """One JSON line, flushed to disk before returning: a kill loses nothing finished."""
    with open(path, "a") as f:
        f.write(json.dumps(data) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_json(path, data):
    """Replace `path` atomically: a crash leaves the old file or the new one, never half."""
    def dump(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
    replace_atomically(path, dump)


def read_json(path):
    """The JSON of `path`; ValueError naming the file if it is not JSON."""
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError:
            raise ValueError(f"{path}: not JSON") from None


def drop_cut_line(path, log=print):
    """Remove a last line cut short by a crash, with a warning, so appending can go on."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            log(f"warning: {path}: skipping its last line, cut short by an earlier crash: "
                f"{data[keep:][:60]!r}")
            f.truncate(keep)


def read_jsonl(path):
    """The JSON objects of a JSON-lines file, in order. A last line without its newline (a
    search writing it now, or one killed while writing it) is not read."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.read().split("\n")[:-1]  # the piece after the last newline is not whole
    records = []
    for n, line in enumerate(lines, start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{path}: line {n} is not JSON") from None
    return records
