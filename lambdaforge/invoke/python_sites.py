"""Lambda's site directories, set up inside a child that imports a function's handler.

Lambda's Python bootstrap (``/var/runtime/bootstrap.py``) calls ``site.addsitedir`` on the
task root, then on the layers' ``python/lib/pythonX.Y/site-packages`` and ``python/``: their
``.pth`` files are processed (a path line is appended to ``sys.path``, an ``import`` line
runs). The import smoke test and ``forge invoke`` do the same in their sandbox, with one
difference a sandbox needs: a path a ``.pth`` adds is a path *on Lambda*. One under
``/var/task`` or ``/opt`` (or the runtime's own directories) is mapped to the sandbox's
stand-in; one elsewhere (``/home/dev/lib/src``, this machine's) is dropped, since Lambda has
nothing there, so a zip that works here only through this machine's files fails here too.

Standard library only: the children load this file by path (``runpy.run_path``) and call
``add_site_dirs`` with the JSON ``lambda_env.python_sites`` made.
"""

import os
import site
import sys


def add_site_dirs(sites):
    """Process ``sites["dirs"]`` as Lambda's site directories; ``sites["map"]`` lists
    ``[lambda_prefix, local_dir]`` pairs (``local_dir`` ``None`` when absent here)."""
    mapping = [(prefix, local) for prefix, local in sites["map"]]
    locals_ = [os.path.realpath(local) for _, local in mapping if local]
    before = set(sys.path)
    makepath = site.makepath
    missing = os.path.join(locals_[0], ".not-on-lambda")  # never exists: site skips it

    def lambda_makepath(*paths):  # a .pth path line's directory, as Lambda would see it
        made, _ = makepath(*paths)
        local = _local(made, mapping, locals_)
        return makepath(missing if local is None else local)

    site.makepath = lambda_makepath
    try:
        for sitedir in sites["dirs"]:
            if os.path.isdir(sitedir):  # (Lambda appends a missing one again: no import sees it)
                site.addsitedir(sitedir)
    finally:
        site.makepath = makepath
    seen = set()
    path = []
    for entry in sys.path:  # where the .pth files put them (appended, or inserted by code)
        if entry not in before:
            entry = _local(entry, mapping, locals_)
        if entry is not None and entry not in seen:
            seen.add(entry)
            path.append(entry)
    sys.path[:] = path


def _local(entry, mapping, locals_):
    """``entry`` as seen in the sandbox: kept when inside a stand-in directory, mapped when
    it names a Lambda directory, ``None`` for a path Lambda does not have."""
    real = os.path.realpath(entry)
    for local in locals_:
        if real == local or real.startswith(local + os.sep):
            return entry
    for prefix, local in mapping:
        if entry == prefix or entry.startswith(prefix + "/"):
            return None if local is None else local + entry[len(prefix):]
    return None
