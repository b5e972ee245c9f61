"""``python -m interp.sweep``: the sweep command (:mod:`interp.sweep.command`), and the ``job`` sub-command its
runs' child processes run.

An entry point only: what Ray pickles by reference (``execute``, ``Job``) lives in the package's modules, which
workers import by name, never in ``__main__``.
"""

from interp.sweep.command import main

main()
