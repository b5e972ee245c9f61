import sys
from pathlib import Path

import pytest
import torch
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))  # tests/reference.py

settings.register_profile("default", max_examples=40, deadline=None)
settings.load_profile("default")
torch.set_num_threads(1)  # two pytest workers on two cores

TINY_GROUP = Path(__file__).parent / "groups" / "tiny.toml"


@pytest.fixture(scope="session")
def tokenizer():
    from interp.vocab import Tokenizer

    return Tokenizer.default()


def train_micro(run_dir: Path, group=TINY_GROUP, seed: int = 0, steps: int = 300, positional=None,
                **overrides) -> Path:
    """Train a micro model in-process (the same code path as ``python -m interp.train``)."""
    from interp.config import make_run_config
    from interp.storage import write_json
    from interp.train import Trainer

    settings = {"batch_size": 64, "eval_every": 100, "checkpoint_every": 100, **overrides}
    config = make_run_config("micro", group, seed, positional=positional, steps=steps, **settings)
    run_dir.mkdir(parents=True)
    write_json(run_dir / "config.json", config.to_dict())
    Trainer(run_dir, config, torch.device("cpu"), progress=False).run(0)
    return run_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A micro model trained on copy ≤ 4 + reverse ≤ 8: right on short strings, wrong on long ones."""
    return train_micro(tmp_path_factory.mktemp("runs") / "tiny")
