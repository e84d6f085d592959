"""A platform's key set: every malformed answer is KeySetUnavailable, never a crash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_lms import NOT_HTTP, FakeLms

from grader.lti.platform_keys import KeySetUnavailable, fetch_key_set


@pytest.fixture
def lms() -> Iterator[FakeLms]:
    found = FakeLms()
    yield found
    found.close()


def test_the_fake_lms_key_set_is_read(lms):
    assert list(fetch_key_set(lms.url + "/jwks", 5).keys) == [lms.kid]


@pytest.mark.parametrize("body", [
    b'{"keys":["x"]}', b'{"keys":[null]}', b'{"keys":{"a":1}}', b'{"keys":5}', b"[]",
    b'"keys"', b"[" * 100_000, b'{"keys":[{"kty":"RSA","kid":"k","n":5,"e":[]}]}',
    b"\xff\xfe", b""])
def test_a_malformed_key_set_is_unavailable(lms, body):
    lms.jwks = lambda: body
    with pytest.raises(KeySetUnavailable):
        fetch_key_set(lms.url + "/jwks", 5)


def test_a_key_set_answer_that_is_not_http_is_unavailable(lms):
    lms.jwks_status = NOT_HTTP
    with pytest.raises(KeySetUnavailable):
        fetch_key_set(lms.url + "/jwks", 5)
