import os
import sys
from pathlib import Path

# No test may reach the network: set before anything imports huggingface_hub (it reads these once).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"  # two pytest workers on two cores; the trainer's thread choice honours it

import pytest
import torch
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))  # tests/reference.py

settings.register_profile("default", max_examples=40, deadline=None)
settings.load_profile("default")
torch.set_num_threads(1)

TINY_GROUP = Path(__file__).parent / "groups" / "tiny.toml"


@pytest.fixture(scope="session")
def tokenizer():
    from interp.tasks import default_tokenizer

    return default_tokenizer()


def train_micro(run_dir: Path, group=TINY_GROUP, seed: int = 0, steps: int = 300, positional=None,
                **overrides) -> Path:
    """Train a micro model in-process (the same code path as ``python -m interp.train``)."""
    from interp.config import make_run_config
    from interp.train import train_run

    settings = {"batch_size": 64, "eval_every": 100, "checkpoint_every": 100, **overrides}
    config = make_run_config("micro", group, seed, positional=positional, steps=steps, **settings)
    assert train_run(run_dir, config, torch.device("cpu"), progress=False) == 0
    return run_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A micro model trained on copy ≤ 4 + reverse ≤ 8: right on short strings, wrong on long ones."""
    return train_micro(tmp_path_factory.mktemp("runs") / "tiny")
