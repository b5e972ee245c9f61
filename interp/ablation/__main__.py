"""``python -m interp.ablation --run DIR``: interp.head_overlap with the ablation family alone, into analysis/ablation/."""

from interp.head_overlap import main

main(family="ablation")
