"""Packaging: from files to a checked, reproducible Lambda zip.

One module per job, imported directly (this package re-exports nothing, so a build that only
needs ``archive`` does not pay for what it does not use; ``pathspec`` is imported only where a
pattern has to be compiled):

- ``sources``: walk a source tree (include, exclude, secrets, strip) → sorted file list
- ``strip``: strip rule sets (built-in and custom), the filter and its accounting
- ``archive``: deterministic, streaming, atomic zip writer (raw copy of zip members)
- ``writers``: the ``ArtifactWriter`` interface builders pick (the zip now; an image later)
- ``elf``: recognise native binaries and what they need (machine, glibc, musl)
- ``checks``: native-binary and size checks of a finished zip
"""
