"""The original zeroG's datastore client: ``CouchbaseDatastore(host, username, password, bucket)``
and its methods (``read``, ``read_with_cas``, ``create``, ``update``, ``set``, ``set_with_cas``,
``delete``...), over a zeroG store, so code written for it, and ``Server(name, make_datastore,
...)`` factories that return one, run unchanged.

Values are of any JSON kind, as the original's were: dicts (every job document is one), and
strings, numbers, lists, booleans or None under keys of their own. A value JSON cannot hold
(NaN, a set, an object) is refused with a ValueError naming it, before anything is written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from zeroG import _zerog

__all__ = ["CouchbaseDatastore", "Datastore"]


class Datastore:
    """The original's client methods on the store a URL names (or an opened ``_zerog.Store``)."""

    #: What a write with an outdated CAS raises (the original's ``casException``).
    casException = _zerog.CasMismatch
    #: The original's ``lockedException``, for Couchbase's locked documents. zeroG never locks a
    #: document (a conflicting write is a CAS mismatch), so code catching it catches that.
    lockedException = _zerog.CasMismatch

    def __init__(self, store: str | _zerog.Store) -> None:
        # The URL is kept to give worker processes (see Server); it may hold a password, so it
        # is never shown: repr and url() give the store's masked form.
        self._url = store if isinstance(store, str) else None
        self.store = _zerog.Store.open(store) if isinstance(store, str) else store

    @property
    def url(self) -> str:
        """The store's URL, any password masked."""
        return self.store.url

    def opener(self) -> str | _zerog.Store:
        """What opens this store again, in this process or another: the URL it was given (which
        may hold a password, so it is only passed on, never shown), else the store itself."""
        return self._url if self._url is not None else self.store

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store.url!r})"

    def create(self, key: str, value: Any, **_: Any) -> bool:
        """Writes a new value; ``DocumentExists`` if the key is taken."""
        self.store.insert_value(key, value)
        return True

    def read(self, key: str, **_: Any) -> Any:
        """The value, or None."""
        return self.read_with_cas(key)[0]

    def read_with_cas(self, key: str, **_: Any) -> tuple[Any, int]:
        """The value and its CAS, or ``(None, 0)``."""
        found = self.store.get_value(key)
        return found if found is not None else (None, 0)

    def update(self, key: str, value: Any, **kwargs: Any) -> bool:
        return self.update_with_cas(key, value, **kwargs)[0]

    def update_with_cas(self, key: str, value: Any, cas: int = 0, **_: Any) -> tuple[bool, int]:
        """Replaces an existing value: with ``cas``, only if nobody wrote it since
        (``casException`` if somebody did); ``DocumentNotFound`` if there is none."""
        if cas:
            return True, self.store.replace_value(key, value, cas)
        while True:
            found = self.store.get_value(key)
            if found is None:
                raise _zerog.DocumentNotFound(f"no document {key!r} to update")
            try:
                return True, self.store.replace_value(key, value, found[1])
            except _zerog.CasMismatch:
                continue  # written in between: this write replaces whatever is there now

    def set(self, key: str, value: Any, **kwargs: Any) -> bool:
        """Writes the value, whether or not the key exists (an upsert)."""
        return self.set_with_cas(key, value, **kwargs)[0]

    def set_with_cas(self, key: str, value: Any, cas: int = 0, **_: Any) -> tuple[bool, int]:
        """As the original's: with ``cas``, replaces the value only if nobody wrote it since
        (``casException`` if somebody did) and creates it if it is gone; without, an upsert."""
        while True:
            try:
                return self.update_with_cas(key, value, cas)
            except _zerog.DocumentNotFound:
                pass
            try:
                return True, self.store.insert_value(key, value)
            except _zerog.DocumentExists:
                if cas:
                    raise _zerog.CasMismatch(f"document {key!r} was written since CAS {cas} was read") from None
                # Created in between: replace it, as an upsert does.

    def delete(self, key: str, **_: Any) -> bool:
        """Removes the value; False if there was none."""
        return self.store.delete(key)


class CouchbaseDatastore(Datastore):
    """The original's ``CouchbaseDatastore(host, username, password, bucket)``: zeroG's Couchbase
    store on ``couchbase://username:password@host/bucket``. ``operation_timeout`` (seconds), as
    the original took it, is the longest a store operation may take; its other connection
    settings are the SDK's own and are not used."""

    def __init__(self, host: str, username: str, password: str, bucket: str, **kwargs: Any) -> None:
        url = f"couchbase://{quote(username, safe='')}:{quote(password, safe='')}@{host}/{quote(bucket, safe='')}"
        timeout = kwargs.get("operation_timeout")
        if timeout:
            url += f"?timeout={round(float(timeout) * 1000)}ms"
        super().__init__(url)
