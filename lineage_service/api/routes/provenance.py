"""Build provenance at ``POST /v1/provenance``: in-toto statements, DSSE envelopes, Sigstore bundles.

Takes one document, an array, or JSON Lines (a ``.intoto.jsonl`` file as cosign and
slsa-github-generator write it, posted as is). Each document is translated
(``lineage_service.provenance``) into a lineage event and goes through the one ingestion path; 200
once durably recorded. One malformed document rejects the request (422 naming each field) and
nothing is stored. Signatures are not verified: edges say ``verified: false``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from lineage_service.api.auth import INGEST
from lineage_service.api.body import JSON_TYPES, read_body
from lineage_service.api.body_schemas import DOCUMENTS, json_body
from lineage_service.api.deps import JsonResponse, SettingsDep
from lineage_service.api.problems import AUTH, Problem, json_object, responses
from lineage_service.api.routes.events import INGEST_PROBLEMS, record, result_response
from lineage_service.ingest import IngestResult, InputError, read_events
from lineage_service.provenance import ProvenanceRejected, translate_all

router = APIRouter(prefix="/v1", tags=["provenance"])


def _require_json(request: Request) -> None:
    # Besides the JSON types, the media types of the documents themselves
    # (application/vnd.in-toto+json, application/vnd.dev.sigstore.bundle.v0.3+json).
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise Problem(415, "Unsupported media type",
                      f"expected Content-Type application/json (or application/x-ndjson for .intoto.jsonl), "
                      f"got {media or 'none'}")


@router.post("/provenance", dependencies=[INGEST], response_class=JsonResponse,
             responses={**json_object(), **json_object(202, "Recorded; some events could not be applied yet"),
                        **INGEST_PROBLEMS, **responses(*AUTH)},
             openapi_extra=json_body(DOCUMENTS, "application/json", "application/vnd.in-toto+json"),
             summary="Record build provenance (in-toto / SLSA)",
             description="An in-toto Statement with a SLSA provenance v1 or v0.2 predicate, plain, in a DSSE "
                         "envelope or in a Sigstore bundle; an array of them; or JSON Lines (`.intoto.jsonl`). "
                         "Subjects become `image` nodes, the builder and invocation a `run`, git dependencies "
                         "`commit`s, linked with evidence `attested` and `verified: false` (signatures are not "
                         "checked). 200 with `{accepted, duplicates, failed, nodes, edges, event_ids, notes}`; "
                         "422 problem+json naming each field that could not be mapped, and nothing stored.")
async def post_provenance(request: Request, settings: SettingsDep) -> JsonResponse:
    _require_json(request)
    body = await read_body(request, settings.max_body_bytes)
    try:
        documents = read_events(body.decode("utf-8"), origin="body")
    except UnicodeDecodeError as exc:
        raise Problem(400, "Invalid encoding", f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except (InputError, RecursionError) as exc:
        raise Problem(400, "Invalid JSON", str(exc) if isinstance(exc, InputError)
                      else "the body nests too deeply to be provenance") from None
    if not documents:
        raise Problem(400, "No documents", "the request holds no provenance; send a statement, a DSSE envelope, "
                                           "a Sigstore bundle, an array of them or JSON Lines")
    try:
        events, notes = translate_all(documents, received_at=datetime.now(UTC))
    except ProvenanceRejected as exc:
        request.app.state.metrics.events.labels("rejected").inc(len(documents))
        raise Problem(422, "Provenance rejected", f"nothing was stored: {'; '.join(exc.problems)}",
                      errors=exc.problems) from None
    result = await record(request, events) if events else IngestResult()
    response = result_response(result)
    return JsonResponse({**result.as_dict(), "notes": notes}, status_code=response.status_code)
