from bcp_service import answer_tokens


def test_tokens_are_128_bit_and_url_safe():
    tokens = {answer_tokens.new_answer_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) == 22 and t.replace("-", "a").replace("_", "a").isalnum() for t in tokens)
    assert answer_tokens.hash_token("abc") != answer_tokens.hash_token("abd")
