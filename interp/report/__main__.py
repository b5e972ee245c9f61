"""``python -m interp.report --run DIR``: redraw a saved analysis's reports (the command lives in interp.head_overlap)."""

from interp.head_overlap import report_main

report_main()
