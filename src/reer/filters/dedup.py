"""Exact and near-duplicate texts: normalised digests and MinHash signatures in an LSH index (``datasketch``).

Shared by the pre-filters on pairs (requests and references) and the quality summary of exported thinking.
Signatures are of word (for Chinese, character) shingles; LSH proposes candidates that are *probably* above the
threshold and each is confirmed on its estimated Jaccard similarity, so the cost grows linearly with the texts.
"""

from __future__ import annotations

import hashlib
import zlib
from functools import cache
from typing import Any

from reer.errors import ConfigError
from reer.language import units


class NearDuplicates:
    """The texts kept so far; :meth:`twin` names an earlier exact or near-duplicate of a new one."""

    def __init__(
        self, threshold: float, num_perm: int, shingle_size: int, what: str = "text", settings: str = ""
    ) -> None:
        """``settings``: where the user sets these (``pairs.``), for the error message."""
        from datasketch import MinHashLSH

        self.threshold, self.num_perm, self.shingle_size, self.what = threshold, num_perm, shingle_size, what
        self.exact: dict[str, str] = {}
        self.signatures: dict[str, Any] = {}
        try:
            self.index = MinHashLSH(threshold=threshold, num_perm=num_perm)
        except ValueError as exc:  # too few permutations to split into LSH bands at this threshold
            raise ConfigError(
                f"{settings}near_duplicate_threshold={threshold} needs more than {settings}num_perm={num_perm} "
                f"MinHash permutations ({exc}); raise num_perm or lower the threshold"
            ) from exc

    def fingerprint(self, text: str) -> tuple[str, Any]:
        return normalised_hash(text), minhash(text, self.num_perm, self.shingle_size)

    def twin(self, digest: str, signature: Any) -> tuple[str, str] | None:
        """(reason, detail) when an earlier text is the same or nearly the same."""
        if digest in self.exact:
            return f"duplicate-{self.what}", f"same {self.what} as {self.exact[digest]}"
        for other in self.index.query(signature):
            similarity = signature.jaccard(self.signatures[other])
            if similarity >= self.threshold:
                return f"near-duplicate-{self.what}", f"{self.what} ~ {other} (estimated Jaccard {similarity:.2f})"
        return None

    def add(self, key: str, digest: str, signature: Any) -> None:
        self.exact[digest] = key
        self.signatures[key] = signature
        self.index.insert(key, signature)


def minhash(text: str, num_perm: int, shingle_size: int) -> Any:
    from datasketch import MinHash

    words = units(text)
    size = min(shingle_size, max(len(words), 1))
    template = _template(num_perm)
    # CRC-32 for the shingles: deterministic like datasketch's default SHA-1, and several times faster.
    signature = MinHash(
        num_perm=num_perm, hashfunc=zlib.crc32, permutations=template.permutations, scheme=template.scheme
    )
    signature.update_batch([" ".join(words[i : i + size]).encode() for i in range(max(len(words) - size + 1, 1))])
    return signature


def signature_of(hashvalues: Any) -> Any:
    """The signature :func:`minhash` made, from its hash values (as they travel between processes)."""
    from datasketch import MinHash

    template = _template(len(hashvalues))
    return MinHash(
        hashvalues=hashvalues, hashfunc=zlib.crc32, permutations=template.permutations, scheme=template.scheme
    )


@cache
def _template(num_perm: int) -> Any:
    """Drawing the hash permutations costs more than hashing a text: draw them once."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=1)


def normalised_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()
