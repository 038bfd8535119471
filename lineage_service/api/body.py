"""Request bodies: size limit (413), gzip (as the OpenLineage client sends), JSON parsing (400).

Bodies are read here rather than by FastAPI's model binding because webhooks need the exact
bytes for their signatures and every POST must enforce the same limit before parsing anything.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from fastapi import Request

from lineage_service.api.problems import Problem

JSON_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "application/json-seq")


def _too_large(limit: int) -> Problem:
    return Problem(413, "Body too large", f"the request body is larger than {limit} bytes; "
                   f"send fewer events per request (or raise LINEAGE_MAX_BODY_BYTES)", limit=limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes before reading them when the length is declared."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding not in ("identity", ""):
        raise Problem(415, "Unsupported content encoding",
                      f"Content-Encoding {encoding!r} is not supported; send identity or gzip")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    # Decompress with a bound: a small gzip body can expand to gigabytes.
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Problem(400, "Invalid gzip body", f"Content-Encoding is gzip but the body is not: {exc}") from None
    if len(data) > limit or decompressor.unconsumed_tail:
        raise _too_large(limit)
    return data


def require_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise Problem(415, "Unsupported media type",
                      f"expected Content-Type application/json (or application/x-ndjson), got {media or 'none'}")


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Invalid JSON", f"the body is not valid JSON: {exc}") from None
