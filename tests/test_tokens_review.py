"""Review fixes on tokens, authentication and rate limits.

Token lines through the real parser and a real tokens file re-read by a served app (uvicorn on
loopback); rate limits through the real ``limits`` library behind that server.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from lineage_service.settings import Settings
from lineage_service.tokens import TokenConfigError, hash_token, new_token, parse_tokens
from tests.servers import live_server


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# 13, 25. token lines: errors name the entry and field, never a value --------------------------------

@pytest.mark.parametrize(("line", "message"), [
    # Token and scopes swapped: the scope field holds the plaintext token.
    ("ci {token} read", "tokens entry 1: unknown scope in field 2; expected read, ingest or admin"),
    # Token where the name goes, then a secret too short to be one.
    ("{token} read short", "tokens entry 1: a token needs 16 characters or more"),
    ("ci read {token} expires=", "tokens entry 1: expires: empty; expected a date (2026-12-31) or an ISO time"),
    ("ci read sha256:{token} revoked", "tokens entry 1: expected sha256: and 64 hex characters"),
    ("ci read {token} expires={token}", "tokens entry 1: expires: expected a date (2026-12-31) or an ISO time"),
])
def test_a_bad_token_line_says_what_is_wrong_and_never_echoes_a_field(line: str, message: str) -> None:
    token = new_token()
    with pytest.raises(TokenConfigError) as raised:
        parse_tokens(line.format(token=token), "tokens")
    assert message in str(raised.value)
    assert token not in str(raised.value) and token[4:20] not in str(raised.value)


def test_a_reload_of_a_line_with_swapped_fields_logs_no_token(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    token = new_token()
    path = tmp_path / "tokens"
    path.write_text(f"oncall read {hash_token(token)}\n", encoding="utf-8")
    settings = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens_file=path)
    with live_server(settings) as url, httpx.Client(base_url=url) as http, \
            caplog.at_level(logging.ERROR, logger="lineage_service"):
        leaked = new_token()
        path.write_text(f"oncall read {hash_token(token)}\nci {leaked} ingest\n", encoding="utf-8")
        # The broken line keeps the last good tokens: the reader still gets in.
        assert http.get("/v1/stats", headers=_bearer(token)).status_code == 200
        [record] = [r for r in caplog.records if "not reloaded" in r.getMessage()]
        assert "unknown scope in field 2" in record.getMessage() and leaked not in record.getMessage()


# 12, 23. a file read half-written fails closed; an unknown token is told how to get one ------------

def test_a_half_written_tokens_file_fails_closed_until_the_next_change(tmp_path: Path) -> None:
    first, second = new_token(), new_token()
    path = tmp_path / "tokens"
    whole = f"oncall read {hash_token(first)}\nci read {hash_token(second)}\n"
    path.write_text(whole, encoding="utf-8")
    settings = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", tokens_file=path)
    with live_server(settings) as url, httpx.Client(base_url=url) as http:
        path.write_text(whole.splitlines(keepends=True)[0], encoding="utf-8")  # cut after its first line
        refused = http.get("/v1/stats", headers=_bearer(second))
        assert refused.status_code == 401  # closed, as the docstring and README now say
        assert "not one this service knows (lineage token create makes one)" in refused.json()["detail"]
        assert http.get("/v1/stats", headers=_bearer(first)).status_code == 200
        path.write_text(whole, encoding="utf-8")
        assert http.get("/v1/stats", headers=_bearer(second)).status_code == 200


# 10. a request refused by one item of a budget spends none of the others ---------------------------

def test_requests_refused_by_the_short_window_do_not_spend_the_long_one(tmp_path: Path) -> None:
    # 3/hour then 1/minute: refused by the minute, a request must not use up the hour, or the fourth
    # request would be refused by the hour (wrongly: only one request was ever served).
    settings = Settings(store=f"sqlite:///{tmp_path / 'lineage.db'}", rate_limit_read="3/hour;1/minute")
    with live_server(settings) as url, httpx.Client(base_url=url) as http:
        assert http.get("/v1/stats").status_code == 200
        refusals = [http.get("/v1/stats") for _ in range(5)]
        assert [r.status_code for r in refusals] == [429] * 5
        assert {r.json()["limit"] for r in refusals} == {"1 per 1 minute"}
