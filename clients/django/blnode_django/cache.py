"""A bounded, per-process cache of blnode's check answers.

A "valid" answer is reused for at most max_age seconds (and never past the
token's exp): that is the bound on how late this process sees a
revocation. A revoked answer is kept until the token's exp, as a
revocation is never undone. Keys are SHA-256 digests of the tokens, so the
cache holds no credential. The least recently used entry goes first when
max_entries are held.
"""

import collections
import hashlib
import threading
import time


class CheckCache:
    def __init__(self, max_age, max_entries, clock=time.monotonic, wall=time.time):
        self.max_age = float(max_age)
        self.max_entries = int(max_entries)
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._entries = collections.OrderedDict()  # digest -> (deadline, answer)

    @staticmethod
    def _key(token):
        return hashlib.sha256(token.encode("utf-8")).digest()

    def get(self, token):
        """The cached answer for token, or None."""
        key = self._key(token)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, token, answer):
        """Keeps blnode's answer for token: a valid one max_age seconds, a
        revoked one until its exp; other answers are not kept."""
        now = self._clock()
        to_exp = float(answer.get("exp") or 0) - self._wall()
        if answer.get("valid"):
            ttl = min(self.max_age, to_exp)
        elif answer.get("blacklisted"):
            ttl = to_exp
        else:
            return
        if ttl <= 0:
            return
        key = self._key(token)
        with self._lock:
            self._entries[key] = (now + ttl, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self):
        with self._lock:
            return len(self._entries)
