"""``python -m interp.patching --run DIR``: interp.head_overlap with the patching family alone, into analysis/patching/."""

from interp.head_overlap import main

main(family="patching")
