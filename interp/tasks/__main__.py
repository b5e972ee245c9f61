"""Show the tasks and their data.

    python -m interp.tasks list
    python -m interp.tasks sample TASK --length N --count K --seed S [--split train|test]

``sample`` prints one JSON object per line: ``{"task", "length", "prompt", "target", "scored"}`` with the
prompt ``T BODY T`` as text, the target without ``<eos>`` and one 0/1 per target token. With
``--split train`` (the default is ``test``), N is the maximum length and each example's length is drawn.
"""

from __future__ import annotations

import argparse
import json
import sys

from interp.errors import InterpError, cli_main
from interp.tasks import TASKS, Examples, default_tokenizer, get_task, stable_rng
from interp.vocab import Tokenizer

SAMPLE_LIMIT = 10_000_000
"""The most characters (``--count`` × ``--length``) one ``sample`` draws: about a gigabyte of tokens."""


def example_records(task_name: str, examples: Examples, tokenizer: Tokenizer) -> list[dict]:
    """The examples as the JSON records ``sample`` prints."""
    records = []
    for row in range(len(examples)):
        start, end = int(examples.target_start[row]), int(examples.end[row])
        tokens = examples.tokens[row]
        records.append(
            {
                "task": task_name,
                "length": int(examples.length[row]),
                "prompt": tokenizer.decode(tokens[1:start]),
                "target": tokenizer.decode(tokens[start : end - 1]),
                "scored": examples.scored[row, start : end - 1].astype(int).tolist(),
            }
        )
    return records


def whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m interp.tasks", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="name, domain and description of every task")
    sample = commands.add_parser("sample", help="print examples of one task as JSON lines")
    sample.add_argument("task")
    sample.add_argument("--length", type=whole_number, required=True, help="exact (test) or maximum (train) length")
    sample.add_argument("--count", type=whole_number, default=1)
    sample.add_argument("--seed", type=whole_number, default=0)
    sample.add_argument("--split", choices=("train", "test"), default="test")
    args = parser.parse_args(argv)

    if args.command == "list":
        width = max(map(len, TASKS))
        for task in TASKS.values():
            print(f"{task.name:<{width}}  {task.domain:<10}  {task.description}")
        return
    task = get_task(args.task)
    if args.seed < 0:
        raise InterpError(f"--seed must be non-negative, got {args.seed}")
    task.check_length(args.length)
    if args.count * args.length > SAMPLE_LIMIT:
        raise InterpError(f"--count × --length is at most {SAMPLE_LIMIT:,} (about a gigabyte of tokens), got "
                          f"{args.count:,} × {args.length:,}; draw fewer or shorter examples")
    examples = task.sample(stable_rng(args.seed, task.name, args.split), args.count, args.length,
                           exact=args.split == "test")
    out = sys.stdout
    for record in example_records(task.name, examples, default_tokenizer()):
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
