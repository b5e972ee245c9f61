"""String tasks (SPEC §3): copy, reverse, capitalize (swap case), capreverse, mqar.

Strings are drawn uniformly over ``a-z A-Z``; the length n is the number of input characters, uniform in
[min_length, L] for training and exactly n for testing. BODY is ``s=`` (``s|`` for mqar).

``mqar`` (multi-query associative recall, as used by Cai et al., arXiv 2506.09251): k = ceil(n/4)
queries, each a 2-character key that occurs exactly once in s and is followed by a character; the key
positions are drawn without replacement among such keys (fewer queries when fewer exist) and s is redrawn
when none exists. TARGET is ``key1 v1 key2 v2 …``; keys are teacher-forced, only the values (and
``<eos>``) are scored. Pitfall: because keys are not scored, a model can only be judged on the values;
exact match on mqar says nothing about whether it could produce the keys.
"""

from __future__ import annotations

import numpy as np

from interp.tasks.base import Layout, Piece, register_task, symbol
from interp.vocab import LETTER_0, LETTERS

ALPHABET = len(LETTERS)
CASE_OFFSET = ALPHABET // 2  # a-z then A-Z: swapping case is ±26


def draw_lengths(rng: np.random.Generator, count: int, length: int, exact: bool, minimum: int) -> np.ndarray:
    if exact:
        return np.full(count, length, dtype=np.int64)
    return rng.integers(minimum, length + 1, size=count)


def draw_letters(rng: np.random.Generator, lengths: np.ndarray, width: int) -> np.ndarray:
    """Letter indices (count, width), 0..51 (a-z A-Z); columns past each length are unused."""
    return rng.integers(0, ALPHABET, size=(len(lengths), width))


def reverse_rows(letters: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each row's first ``lengths[b]`` entries reversed (the rest is garbage)."""
    columns = np.arange(letters.shape[1])
    source = np.clip(lengths[:, None] - 1 - columns, 0, None)
    return np.take_along_axis(letters, source, axis=1)


def swap_case(letters: np.ndarray) -> np.ndarray:
    return np.where(letters < CASE_OFFSET, letters + CASE_OFFSET, letters - CASE_OFFSET)


def transform_layout(
    rng: np.random.Generator, count: int, length: int, exact: bool, reverse: bool, swap: bool
) -> Layout:
    """``s=`` then s transformed: optionally reversed, optionally with its case swapped."""
    lengths = draw_lengths(rng, count, length, exact, minimum=1)
    letters = draw_letters(rng, lengths, length)
    target = reverse_rows(letters, lengths) if reverse else letters
    target = swap_case(target) if swap else target
    body = [Piece(LETTER_0 + letters, lengths), symbol("=", count)]
    return Layout(body, [Piece(LETTER_0 + target, lengths, scored=True)], lengths)


@register_task("copy", domain="strings", description="copy the string")
def copy(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    return transform_layout(rng, count, length, exact, reverse=False, swap=False)


@register_task("reverse", domain="strings", description="reverse the string")
def reverse(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    return transform_layout(rng, count, length, exact, reverse=True, swap=False)


@register_task("capitalize", domain="strings", description="swap the case of every letter")
def capitalize(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    return transform_layout(rng, count, length, exact, reverse=False, swap=True)


@register_task("capreverse", domain="strings", description="swap case and reverse")
def capreverse(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    return transform_layout(rng, count, length, exact, reverse=True, swap=True)


MQAR_MIN_LENGTH = 3


def unique_key_positions(letters: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(count, width) mask of positions i where s[i:i+2] occurs once in s and s[i+2] exists."""
    count, width = letters.shape
    bigrams = letters[:, :-1] * ALPHABET + letters[:, 1:]
    starts = np.arange(width - 1)
    real = starts < (lengths[:, None] - 1)  # bigram lies inside the string
    same = (bigrams[:, :, None] == bigrams[:, None, :]) & real[:, :, None] & real[:, None, :]
    unique = same.sum(axis=2) == 1
    followed = starts < (lengths[:, None] - 2)
    mask = np.zeros((count, width), dtype=bool)
    mask[:, :-1] = unique & followed & real
    return mask


@register_task(
    "mqar",
    domain="strings",
    description="multi-query associative recall: the character after each queried 2-character key",
    min_length=MQAR_MIN_LENGTH,
)
def mqar(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    lengths = draw_lengths(rng, count, length, exact, minimum=MQAR_MIN_LENGTH)
    letters = draw_letters(rng, lengths, length)
    candidates = unique_key_positions(letters, lengths)
    while not candidates.any(axis=1).all():  # redraw the strings that have no usable key
        redraw = ~candidates.any(axis=1)
        letters[redraw] = draw_letters(rng, lengths[redraw], length)
        candidates[redraw] = unique_key_positions(letters[redraw], lengths[redraw])
    queries = np.minimum(-(-lengths // 4), candidates.sum(axis=1))
    max_queries = int(queries.max())
    priority = np.where(candidates, rng.random(candidates.shape), np.inf)
    chosen = np.argsort(priority, axis=1, kind="stable")[:, :max_queries]  # random order, no replacement
    triples = chosen[:, :, None] + np.arange(3)  # key, key, value
    target = np.take_along_axis(letters, triples.reshape(count, -1), axis=1)
    scored = np.broadcast_to(np.array([False, False, True]), triples.shape).reshape(count, -1)
    body = [Piece(LETTER_0 + letters, lengths), symbol("|", count)]
    return Layout(body, [Piece(LETTER_0 + target, 3 * queries, scored=scored)], lengths)
