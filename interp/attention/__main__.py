"""``python -m interp.attention --run DIR``: interp.head_overlap with the attention family alone, into analysis/attention/."""

from interp.head_overlap import main

main(family="attention")
