import pytest
from hypothesis import given
from hypothesis import strategies as st

from interp.errors import InterpError
from interp.tasks import check_compatible, default_tokenizer, default_tokens
from interp.vocab import BASE_TOKENS, NODES


def test_every_token_is_one_token(tokenizer):
    for index, token in enumerate(tokenizer.tokens):
        assert tokenizer.encode(token) == [index]
    assert len(NODES) == 64 and NODES[0] == "[1]" and NODES[-1] == "[64]"
    assert tokenizer.tokens[:3] == ("<pad>", "<bos>", "<eos>")
    assert tokenizer.pad_id == 0 and tokenizer.bos_id == 1 and tokenizer.eos_id == 2
    symbols = "+-*=|:;?>,"
    assert all(tokenizer.encode(s) == [tokenizer.token_to_id[s]] for s in symbols)


@given(st.lists(st.sampled_from(default_tokens()), max_size=60))
def test_encode_decode_round_trip(tokens):
    tokenizer = default_tokenizer()
    text = "".join(tokens)
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert ids == [tokenizer.token_to_id[t] for t in tokens]


@pytest.mark.parametrize(
    "text, message",
    [
        ("12a#3", "unknown character '#' at position 3"),
        ("<add>1+1=<foo>", "unknown token '<foo>' at position 9"),
        ("[65]", "unknown token '[65]' at position 0"),
        ("ab c", "unknown character ' ' at position 2"),
        ("x<", "unknown character '<' at position 1"),
    ],
)
def test_unknown_characters_are_named_with_their_position(tokenizer, text, message):
    with pytest.raises(InterpError, match="cannot tokenize") as error:
        tokenizer.encode(text)
    assert message in str(error.value)


def test_ids_are_stable_and_task_tokens_come_last():
    tokens = default_tokens()
    assert tokens[: len(BASE_TOKENS)] == BASE_TOKENS
    assert all(t.startswith("<") for t in tokens[len(BASE_TOKENS) :])


def test_saved_vocabularies_are_checked():
    tokens = default_tokens()
    assert check_compatible(tokens[:-1]).tokens == tokens[:-1]  # a run made before the last task existed
    altered = list(tokens)
    altered[20] = "?"
    with pytest.raises(InterpError, match="differs from this code's at id 20"):
        check_compatible(altered[:25])


def test_decode_rejects_out_of_range(tokenizer):
    with pytest.raises(InterpError):
        tokenizer.decode([len(tokenizer)])
