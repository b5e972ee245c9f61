"""The shared vocabulary of every task, and the tokenizer (SPEC §2).

One token per special (``<pad>``, ``<bos>``, ``<eos>``), digit ``0-9``, letter ``a-z A-Z``, symbol
``+ - * = | : ; ? > ,``, maze node ``[1]`` … ``[64]`` and task token (``<add>``, ``<copy>``, …).

Ids are fixed for everything but the task tokens, which follow in the order tasks are registered (the
task registry, :mod:`interp.tasks`, assigns them and assembles the whole vocabulary), so adding a task
appends a token and changes no existing id. A run stores its vocabulary (the token list) in
``config.json``; :func:`tokenizer_for` refuses a run whose tokens do not match this code's.

Tokenizing is greedy and unambiguous: ``<`` starts a ``<name>`` token, ``[`` starts a node token, any
other character is one token. ``decode(encode(s)) == s`` for every string made of vocabulary tokens.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence

import numpy as np

from interp.errors import InterpError

SPECIALS = ("<pad>", "<bos>", "<eos>")
DIGITS = tuple(string.digits)
LETTERS = tuple(string.ascii_lowercase + string.ascii_uppercase)
SYMBOLS = tuple("+-*=|:;?>,")
MAX_NODES = 64
NODES = tuple(f"[{node}]" for node in range(1, MAX_NODES + 1))
BASE_TOKENS = SPECIALS + DIGITS + LETTERS + SYMBOLS + NODES

PAD, BOS, EOS = 0, 1, 2
DIGIT_0 = len(SPECIALS)
LETTER_0 = DIGIT_0 + len(DIGITS)
SYMBOL_ID = {symbol: LETTER_0 + len(LETTERS) + index for index, symbol in enumerate(SYMBOLS)}
NODE_1 = LETTER_0 + len(LETTERS) + len(SYMBOLS)
"""Id of node token ``[1]``; node ``[k]`` has id ``NODE_1 + k - 1``."""

def task_token(name: str) -> str:
    """The task token's text, e.g. ``<add>``."""
    return f"<{name}>"


class Tokenizer:
    """Greedy tokenizer over a fixed token list (SPEC §2)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = tuple(tokens)
        if tokens[: len(SPECIALS)] != SPECIALS or len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary starts with <pad> <bos> <eos> and has no repeated token")
        self.tokens = tokens
        self.token_to_id = {token: index for index, token in enumerate(tokens)}
        self._strings = np.array(tokens, dtype=object)
        self.pad_id, self.bos_id, self.eos_id = PAD, BOS, EOS

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; an unknown character raises naming it and its position."""
        ids: list[int] = []
        position = 0
        while position < len(text):
            char = text[position]
            end = position + 1
            if char in "<[":
                close = text.find(">" if char == "<" else "]", position)
                end = close + 1 if close != -1 else end
            piece = text[position:end]
            token_id = self.token_to_id.get(piece)
            if token_id is None:
                what = f"token {piece!r}" if len(piece) > 1 else f"character {char!r}"
                raise InterpError(f"cannot tokenize: unknown {what} at position {position} of {text!r}")
            ids.append(token_id)
            position = end
        return ids

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The text of ``ids`` (every id, specials included)."""
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.tokens)):
            raise InterpError(f"cannot decode: ids must lie in [0, {len(self.tokens)})")
        return "".join(self._strings[ids])


def tokenizer_for(saved_tokens: Sequence[str], current_tokens: Sequence[str]) -> Tokenizer:
    """The tokenizer for a run saved with ``saved_tokens``; refuses one that ``current_tokens`` (this code's
    vocabulary, ``interp.tasks.default_tokens``) would read differently. A run made before a task was added
    has a prefix of the current tokens and reads the same."""
    current, saved = tuple(current_tokens), tuple(saved_tokens)
    if current[: len(saved)] != saved:
        at = next((i for i, (a, b) in enumerate(zip(saved, current)) if a != b), len(current))
        run_token = saved[at] if at < len(saved) else "nothing"
        code_token = current[at] if at < len(current) else "nothing"
        raise InterpError(
            f"the run's vocabulary differs from this code's at id {at} (run: {run_token}, code: {code_token})"
        )
    return Tokenizer(saved)
