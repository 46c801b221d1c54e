"""Run one script's `main` once per argument list, all in this one process, and print what a
user of each command line would have seen: [{"returncode", "stdout", "stderr"}, ...] as JSON on
the last line of stdout.

A fresh process per command spends its seconds importing TensorFlow; the error cases of a
script's command line only need its flags parsed again. What `app.run` does is kept: a flag
that does not parse is absl's "FATAL Flags parsing error", a SystemExit's message goes to
stderr with status 1, and any other exception is a traceback with status 1.

    python tests/main_cases.py SCRIPT < cases.json    (cases.json: a list of argument lists)
"""
import contextlib
import io
import json
import os
import runpy
import sys
import traceback

from absl import flags


def run(namespace, script, args):
    """(returncode, stdout, stderr) of `script ARGS...` through `namespace`'s main."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        flags.FLAGS.unparse_flags()
        try:
            argv = flags.FLAGS([script, *args])
            namespace["main"](argv)
        except flags.Error as e:
            print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
            code = 1
        except SystemExit as e:
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
            code = 1 if isinstance(e.code, str) else (e.code or 0)
        except Exception:  # what Python prints for an uncaught exception
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue()


def main():
    script = sys.argv[1]
    cases = json.load(sys.stdin)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python SCRIPT` has it
    namespace = runpy.run_path(script, run_name="main_cases")
    namespace["define_flags"]()
    results = [dict(zip(("returncode", "stdout", "stderr"), run(namespace, script, args)))
               for args in cases]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
