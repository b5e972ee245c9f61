"""``python -m interp.reuse --run DIR``: print a saved analysis's reuse table (the command lives in interp.head_overlap)."""

from interp.head_overlap import reuse_main

reuse_main()
