"""CI webhooks: ``POST /v1/webhooks/github`` and ``POST /v1/webhooks/azure-devops``.

Webhooks authenticate by their secret, not by bearer tokens: GitHub signs the raw body
(``X-Hub-Signature-256``, HMAC-SHA256 under ``LINEAGE_GITHUB_WEBHOOK_SECRET``); Azure DevOps sends
``LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET`` as the basic-auth password of the service hook, or in an
``X-Lineage-Secret`` header. Without a configured secret a route refuses every delivery (503): an
unsigned webhook would let anyone write lineage. A bad or missing signature is a 401 and nothing is
stored.

A delivery is translated (``lineage_service.webhooks``) into one lineage event and goes through the
one ingestion path (``record``): 200 once durably recorded (a redelivery answers 200 with
``duplicates: 1``), 202 when the event type is not mapped, a field naming its main node is missing,
or nothing in it could be recorded, with ``warnings`` saying what was skipped. Senders retry
anything else, so a payload never causes a 4xx or 5xx once it is authentic and parses as JSON.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from pydantic import SecretStr

from lineage_service.api.body import JSON_TYPES, parse_json, read_body
from lineage_service.api.body_schemas import ANY_JSON, GITHUB_FORM, json_body
from lineage_service.api.deps import JsonResponse, SettingsDep
from lineage_service.api.limits import WEBHOOK_LIMIT
from lineage_service.api.problems import Problem, json_object, responses
from lineage_service.api.routes.events import record
from lineage_service.webhooks import azure_devops, github
from lineage_service.webhooks.builder import Translated
from lineage_service.webhooks.signatures import (
    basic_auth_password,
    github_signature_valid,
    header_bytes,
    shared_secret_valid,
    webhook_secrets,
)

log = logging.getLogger(__name__)

# The ingest rate budget, per sender address (lineage_service/api/limits.py), before any signature work.
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], dependencies=[WEBHOOK_LIMIT], responses={
    **json_object(), **json_object(202, "Authentic but not (fully) recorded: `warnings` say why"),
    **responses(400, 401, 413, 415, 429, 503)})

GITHUB_SECRET_VARIABLE = "LINEAGE_GITHUB_WEBHOOK_SECRET"
AZURE_DEVOPS_SECRET_VARIABLE = "LINEAGE_AZURE_DEVOPS_WEBHOOK_SECRET"
_FORM = "application/x-www-form-urlencoded"


def _secrets(setting: SecretStr | None, variable: str, sender: str) -> tuple[bytes, ...]:
    secrets = webhook_secrets(setting)
    if not secrets:
        raise Problem(503, "Webhook not configured",
                      f"{sender} webhooks are refused until {variable} is set to the secret configured at "
                      f"{sender} (several secrets, separated by commas, while rotating); unsigned deliveries "
                      f"are never accepted", slug="webhook-not-configured")
    return secrets


def _unauthorized(detail: str, challenge: str) -> Problem:
    return Problem(401, "Unauthorized", detail, slug="webhook-unauthorized", headers={"WWW-Authenticate": challenge})


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _body_id(body: bytes) -> str:
    """Stands in for a missing delivery id: the same body resent is then the same event."""
    return "sha-" + hashlib.blake2b(body, digest_size=16).hexdigest()


@router.post("/github", response_class=JsonResponse, summary="Record a GitHub webhook delivery",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": ANY_JSON}, _FORM: {"schema": GITHUB_FORM}}}},
             description="Point a GitHub webhook (content type `application/json`, a secret) here. Maps push, "
                         "workflow_run, workflow_job, registry_package/package (container images), "
                         "deployment_status and release; other events record the repository and the commits "
                         "they name. 401 without a valid `X-Hub-Signature-256`, 503 when "
                         f"{GITHUB_SECRET_VARIABLE} is not set.")
async def github_webhook(request: Request, settings: SettingsDep) -> JsonResponse:
    secrets = _secrets(settings.github_webhook_secret, GITHUB_SECRET_VARIABLE, "GitHub")
    body = await read_body(request, settings.max_body_bytes)
    delivery = request.headers.get("x-github-delivery")
    if not github_signature_valid(body, request.headers.get("x-hub-signature-256"), secrets):
        log.warning("GitHub delivery %r refused: missing or invalid signature", (delivery or "")[:100])
        raise _unauthorized(f"X-Hub-Signature-256 is missing or does not match the body under "
                            f"{GITHUB_SECRET_VARIABLE}; check that the webhook's secret is one of the configured "
                            f"secrets", 'HMAC-SHA256 header="X-Hub-Signature-256"')
    event = request.headers.get("x-github-event", "").strip()
    if not event:
        raise Problem(400, "Missing event type", "a GitHub delivery names its event in X-GitHub-Event; "
                      "the header is missing")
    payload = _github_payload(request, body)
    if event.lower() == "ping":
        return JsonResponse({"event": "ping", "delivery": delivery, "accepted": 0, "warnings": [],
                             "message": "pong: the signature matches; lineage will record this hook's events"})
    translated = github.translate(event, delivery or _body_id(body), payload, datetime.now(UTC))
    return await _record(request, translated, {"delivery": delivery})


def _github_payload(request: Request, body: bytes) -> Any:
    media = _media_type(request)
    if media == _FORM:
        # GitHub's other content type: the JSON in a form field named payload (signed as sent).
        try:
            fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        except ValueError:  # parse_qs refuses more fields than max_num_fields this way
            raise Problem(400, "Invalid form body", "an x-www-form-urlencoded delivery carries one 'payload' "
                          "field; this one has more than 10 fields") from None
        if not fields.get("payload"):
            raise Problem(400, "Invalid form body", "an x-www-form-urlencoded delivery carries its JSON in a "
                          "'payload' field; there is none")
        return parse_json(fields["payload"][0].encode())
    if media not in JSON_TYPES:
        raise Problem(415, "Unsupported media type", f"expected the webhook's content type application/json "
                      f"(or {_FORM}), got {media or 'none'}")
    return parse_json(body)


@router.post("/azure-devops", response_class=JsonResponse, summary="Record an Azure DevOps service-hook notification",
             openapi_extra=json_body(ANY_JSON),
             description="Create a Web Hooks service hook pointing here, with basic authentication whose password "
                         f"is {AZURE_DEVOPS_SECRET_VARIABLE} (any user name), or an `X-Lineage-Secret: <secret>` "
                         "HTTP header. Maps build.complete and the pipelines run, stage and job state events to "
                         "runs, their commits and repositories. 401 without the secret, 503 when the variable "
                         "is not set.")
async def azure_devops_webhook(request: Request, settings: SettingsDep) -> JsonResponse:
    secrets = _secrets(settings.azure_devops_webhook_secret, AZURE_DEVOPS_SECRET_VARIABLE, "Azure DevOps")
    body = await read_body(request, settings.max_body_bytes)
    presented = [basic_auth_password(request.headers.get("authorization")),
                 header_bytes(request.headers.get("x-lineage-secret"))]
    # Both are checked whatever the first gives: the time taken says nothing about which matched.
    valid = [shared_secret_valid(value, secrets) for value in presented]
    if not any(valid):
        log.warning("Azure DevOps notification refused: missing or wrong secret")
        raise _unauthorized(f"send {AZURE_DEVOPS_SECRET_VARIABLE} as the service hook's basic-auth password "
                            f"(any user name) or in an X-Lineage-Secret header", 'Basic realm="lineage-webhooks"')
    media = _media_type(request)
    if media not in JSON_TYPES:
        raise Problem(415, "Unsupported media type", f"expected application/json, got {media or 'none'}")
    payload = parse_json(body.removeprefix(b"\xef\xbb\xbf"))  # a UTF-8 byte-order mark is not JSON
    translated = azure_devops.translate(payload, datetime.now(UTC), _body_id(body))
    return await _record(request, translated, {})


async def _record(request: Request, translated: Translated, extra: dict[str, Any]) -> JsonResponse:
    answer: dict[str, Any] = {"event": translated.event_type, **extra, "mapped": translated.mapped,
                              "warnings": list(translated.warnings)}
    if translated.event is None:
        request.app.state.metrics.events.labels("ignored").inc()
        return JsonResponse({**answer, "accepted": 0, "duplicates": 0}, status_code=202)
    try:
        result = await record(request, [translated.event])
    except Problem as exc:
        if exc.status != 422:
            raise  # the store is unavailable: the sender retries
        # The translators only build valid events; if one did not, the sender cannot fix it by retrying.
        log.error("webhook %s mapped to an invalid lineage event: %s", translated.event_type, exc.detail)
        return JsonResponse({**answer, "accepted": 0, "duplicates": 0, "warnings": [
            *answer["warnings"], "the delivery could not be mapped to a valid lineage event (see the service "
            "log); nothing recorded"]}, status_code=202)
    status = 200 if translated.mapped and not result.failed else 202
    return JsonResponse({**answer, **result.as_dict()}, status_code=status)
