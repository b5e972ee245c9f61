"""Arithmetic tasks in reversed notation (SPEC §3): add, nocarry, carry, sub, mul, copyfirst.

Numbers are written least-significant digit first, as in Cai et al., "Extrapolation by Association:
Length Generalization Transfer in Transformers" (arXiv 2506.09251), so the answer can be produced in the
order the carries flow. Operands are held as digit arrays (row = example, column j = digit of 10^j), so a
whole batch is computed with a handful of vectorised carry loops over digit positions; no integer is
ever materialised (40-digit operands overflow int64).

Lengths. Training: each operand's digit count is drawn independently and uniformly from [1, L] and the
example's length is l = max of the two. Test at length n: both operands have exactly n digits. The most
significant digit is never 0. For ``mul`` the second operand always has 3 digits and the length is the
first operand's digit count.

Answer widths. For add, nocarry, carry and sub they are fixed by l, never by the value: sums,
differences, digit-wise sums and carry flags take l+1 digits (right-padded with 0); copyfirst copies a. So
every test example of one length shares one layout. ``mul`` pads nothing (SPEC §3, as the paper's code
does): each partial product a·b_i is i zeros and then the digits of a·b_i (a single 0 when b_i = 0), the
product its own digits, so ``1*595=`` gives ``5+09+005=595``. Its answer widths vary with the value (at
test length n a non-zero a·b_i has n or n+1 digits, the product n+2 or n+3), so test examples of one
length no longer share one answer layout: answer position p can be a digit in one row and a ``+`` in
another. Mean ablation (:mod:`interp.ablation`) averages each position over the examples that reach it,
so for mul a position's mean mixes those roles; activation patching (:mod:`interp.patching`) keeps the
clean targets, so only the prompts' layouts must match, and mul's prompt at test length n is fixed (n
digits, ``*``, 3 digits, ``=``). The longest mul sequence at n (every a·b_i n+1 digits, the product n+3:
5n + 21 tokens with the frame) is what a context check must allow for.
"""

from __future__ import annotations

import numpy as np

from interp.tasks.base import Layout, Piece, register_task, symbol
from interp.vocab import DIGIT_0


def draw_digit_counts(
    rng: np.random.Generator, count: int, length: int, exact: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Digit counts of the two operands: both ``length`` (test) or independent uniform [1, length]."""
    if exact:
        both = np.full(count, length, dtype=np.int64)
        return both, both.copy()
    counts = rng.integers(1, length + 1, size=(2, count))
    return counts[0], counts[1]


def draw_digits(rng: np.random.Generator, digit_counts: np.ndarray, width: int) -> np.ndarray:
    """Random numbers as reversed digit arrays (count, width): zeros past each count, leading digit ≠ 0."""
    digits = rng.integers(0, 10, size=(len(digit_counts), width), dtype=np.int64)
    digits[np.arange(width) >= digit_counts[:, None]] = 0
    rows = np.arange(len(digit_counts))
    digits[rows, digit_counts - 1] = rng.integers(1, 10, size=len(digit_counts))
    return digits


def add_digits(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Digits of a + b (one column wider) and the carry flowing *into* each of those columns."""
    count, width = a.shape
    total = np.zeros((count, width + 1), dtype=np.int64)
    carry_in = np.zeros((count, width + 1), dtype=np.int64)
    carry = np.zeros(count, dtype=np.int64)
    for column in range(width):
        carry_in[:, column] = carry
        column_sum = a[:, column] + b[:, column] + carry
        total[:, column] = column_sum % 10
        carry = column_sum // 10
    carry_in[:, width] = carry
    total[:, width] = carry
    return total, carry_in


def subtract_digits(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Digits of a − b and, per row, whether a < b (the final borrow)."""
    difference = np.zeros_like(a)
    borrow = np.zeros(len(a), dtype=np.int64)
    for column in range(a.shape[1]):
        column_difference = a[:, column] - b[:, column] - borrow
        borrow = (column_difference < 0).astype(np.int64)
        difference[:, column] = column_difference + 10 * borrow
    return difference, borrow.astype(bool)


def multiply_by_digit(a: np.ndarray, digit: np.ndarray) -> np.ndarray:
    """Digits of a · digit (one column wider than a), digit being one 0–9 value per row."""
    count, width = a.shape
    product = np.zeros((count, width + 1), dtype=np.int64)
    carry = np.zeros(count, dtype=np.int64)
    for column in range(width):
        column_product = a[:, column] * digit + carry
        product[:, column] = column_product % 10
        carry = column_product // 10
    product[:, width] = carry
    return product


def digits_piece(digits: np.ndarray, lengths: np.ndarray | None, scored: bool = False) -> Piece:
    """The first ``lengths[b]`` digits of each row as digit tokens."""
    return Piece(DIGIT_0 + digits, lengths, scored)


def operands(rng: np.random.Generator, count: int, length: int, exact: bool):
    """Two random operands padded to a common width, their digit counts, and l = max count."""
    counts_a, counts_b = draw_digit_counts(rng, count, length, exact)
    a = draw_digits(rng, counts_a, length)
    b = draw_digits(rng, counts_b, length)
    return a, b, counts_a, counts_b, np.maximum(counts_a, counts_b)


def addition_layout(
    rng: np.random.Generator, count: int, length: int, exact: bool, answer: str
) -> Layout:
    """``a+b=`` followed by an l+1-digit answer: the sum, the digit-wise sum or the carries."""
    a, b, counts_a, counts_b, longest = operands(rng, count, length, exact)
    if answer == "sum":
        target, _ = add_digits(a, b)
    elif answer == "nocarry":
        target = np.concatenate([(a + b) % 10, np.zeros((count, 1), dtype=np.int64)], axis=1)
    else:
        _, target = add_digits(a, b)
    body = [digits_piece(a, counts_a), symbol("+", count), digits_piece(b, counts_b), symbol("=", count)]
    return Layout(body, [digits_piece(target, longest + 1, scored=True)], longest)


@register_task("add", domain="arithmetic", description="reverse addition: a+b, digits least-significant first")
def add(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    return addition_layout(rng, count, length, exact, "sum")


@register_task("nocarry", domain="arithmetic", description="digit-wise (a_i+b_i) mod 10, carries dropped")
def nocarry(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    return addition_layout(rng, count, length, exact, "nocarry")


@register_task("carry", domain="arithmetic", description="the carry flags of a+b: 1 where a carry flows in")
def carry(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    return addition_layout(rng, count, length, exact, "carry")


@register_task("sub", domain="arithmetic", description="reverse subtraction a-b with a >= b")
def sub(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    a, b, counts_a, counts_b, longest = operands(rng, count, length, exact)
    _, swap = subtract_digits(a, b)
    a[swap], b[swap] = b[swap], a[swap].copy()
    counts_a[swap], counts_b[swap] = counts_b[swap], counts_a[swap].copy()
    difference, _ = subtract_digits(a, b)
    difference = np.concatenate([difference, np.zeros((count, 1), dtype=np.int64)], axis=1)
    body = [digits_piece(a, counts_a), symbol("-", count), digits_piece(b, counts_b), symbol("=", count)]
    return Layout(body, [digits_piece(difference, longest + 1, scored=True)], longest)


MULTIPLIER_DIGITS = 3


def significant_digits(digits: np.ndarray) -> np.ndarray:
    """Per row, the digit count of the number without leading zeros (1 for zero itself)."""
    nonzero = digits != 0
    last = digits.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.where(nonzero.any(axis=1), last, 1)


def multiplication_layout(a: np.ndarray, counts_a: np.ndarray, b: np.ndarray) -> Layout:
    """``a*b=`` and its chain of thought: a·b_i after i zeros for each digit b_i, ``+``-joined, ``=``, a·b.

    ``a`` holds reversed digits (zeros past ``counts_a``), ``b`` the multiplier's 3 reversed digits; no
    piece is padded, so each row's piece lengths follow its values.
    """
    count, width = a.shape
    target: list[Piece] = []
    product = np.zeros((count, width + MULTIPLIER_DIGITS), dtype=np.int64)
    for index in range(MULTIPLIER_DIGITS):
        partial = multiply_by_digit(a, b[:, index])
        shifted = np.zeros_like(product)
        shifted[:, index : index + width + 1] = partial
        product, _ = add_digits(product, shifted)
        product = product[:, :-1]  # a·b < 10^(width+3): the extra column is always 0
        if index:
            target.append(symbol("+", count, scored=True))
        target.append(digits_piece(shifted, index + significant_digits(partial), scored=True))
    target += [symbol("=", count, scored=True), digits_piece(product, significant_digits(product), scored=True)]
    body = [digits_piece(a, counts_a), symbol("*", count), digits_piece(b, None), symbol("=", count)]
    return Layout(body, target, counts_a)


@register_task("mul", domain="arithmetic", description="n-by-3-digit multiplication with partial products (CoT)")
def mul(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    counts_a, _ = draw_digit_counts(rng, count, length, exact)
    a = draw_digits(rng, counts_a, length)
    b = draw_digits(rng, np.full(count, MULTIPLIER_DIGITS), MULTIPLIER_DIGITS)
    return multiplication_layout(a, counts_a, b)


@register_task("copyfirst", domain="arithmetic", description="control: copy the first operand of a+b")
def copyfirst(rng: np.random.Generator, count: int, length: int, exact: bool) -> Layout:
    a, b, counts_a, counts_b, longest = operands(rng, count, length, exact)
    body = [digits_piece(a, counts_a), symbol("+", count), digits_piece(b, counts_b), symbol("=", count)]
    return Layout(body, [digits_piece(a, counts_a, scored=True)], longest)
