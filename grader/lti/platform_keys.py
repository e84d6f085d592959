"""A platform's published keys (its JWKS URL), fetched over HTTP and kept as long as
the response's Cache-Control allows (max-age; nothing with no-store or no-cache, or
without a max-age). A token naming a kid the kept set lacks makes one fresh fetch: the
platform may have rotated its keys since.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

import jwt

MAX_JWKS_BYTES = 1_048_576
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\b", re.IGNORECASE)


class KeySetUnavailable(Exception):
    """The platform's key set could not be fetched or read."""


def cache_seconds(cache_control: str | None) -> int:
    """How long a response may be kept, by its Cache-Control header."""
    if not cache_control or _NO_CACHE.search(cache_control):
        return 0
    found = _MAX_AGE.search(cache_control)
    return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class FetchedKeys:
    keys: dict[str, Any]  # kid -> public key object
    max_age: int


def fetch_key_set(url: str, timeout: float) -> FetchedKeys:
    """GET a JWKS and read its RSA keys by kid (KeySetUnavailable)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
            max_age = cache_seconds(response.headers.get("Cache-Control"))
    except (OSError, ValueError, HTTPException) as exc:  # HTTPException: not HTTP
        raise KeySetUnavailable(str(exc) or repr(exc)) from None
    if len(body) > MAX_JWKS_BYTES:
        raise KeySetUnavailable("the key set is too large")
    try:
        return FetchedKeys(read_key_set(body), max_age)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError,
            jwt.InvalidKeyError) as exc:
        raise KeySetUnavailable(f"not a JSON Web Key Set: {exc!r}") from None


def read_key_set(body: bytes) -> dict[str, Any]:
    """The RSA keys of a JWKS document by kid (ValueError when it is not one)."""
    document = json.loads(body)
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("no list of keys")
    keys = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("a key that is not an object")
        if entry.get("kty") == "RSA" and (
                isinstance(entry.get("kid"), str)):
            keys[entry["kid"]] = jwt.algorithms.RSAAlgorithm.from_jwk(entry)
    return keys


class PlatformKeys:
    """The key sets of the platforms, by URL, for one process."""

    def __init__(self, timeout: float = 10.0,
                 fetch: Callable[[str, float], FetchedKeys] = fetch_key_set,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._fetch = fetch
        self._clock = clock
        self._kept: dict[str, tuple[FetchedKeys, float]] = {}
        self._lock = threading.Lock()

    def key(self, url: str, kid: str) -> Any | None:
        """The public key `kid` of the set at `url`: from the kept set while it is
        fresh, else (or when the kept set lacks it) fetched once; None when the fresh
        set lacks it too (KeySetUnavailable when it cannot be fetched)."""
        with self._lock:
            kept = self._kept.get(url)
        if kept is not None and kept[1] > self._clock() and kid in kept[0].keys:
            return kept[0].keys[kid]
        fetched = self._fetch(url, self.timeout)
        with self._lock:
            if fetched.max_age > 0:
                self._kept[url] = (fetched, self._clock() + fetched.max_age)
            else:
                self._kept.pop(url, None)
        return fetched.keys.get(kid)
