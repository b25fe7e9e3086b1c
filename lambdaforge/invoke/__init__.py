"""``forge invoke``: a built function called once, in a process started as Lambda starts one.

``session.invoke`` builds the function (``BuildSession``), prepares the child for its
runtime (``python_runtime`` / ``node_runtime``: the interpreter, the extracted zips,
``lambda_env``'s environment and search paths), runs it (``process``: logs, timeout, peak
memory) with the runtime's bootstrap (``python_bootstrap.py``, ``node_bootstrap.cjs``:
the handler called with the event and a context from ``request``), and answers as Lambda
does. ``samples`` holds the built-in events. No Docker.
"""
