"""Secrets never reach reports: headers, JSON bodies, forms, URL fragments, and any text a known secret shows up in."""

from __future__ import annotations

import json

import httpx

from harness.auth import BearerAuth, mint_token
from harness.reporting.recorder import Recorder
from harness.reporting.redact import (
    MASK,
    redact_body,
    redact_headers,
    redact_json,
    redact_url,
    register_secret,
    scrub,
)


def test_headers_mask_authorization_cookies_and_csrf() -> None:
    out = redact_headers({"Authorization": "Bearer abcdef123456", "Cookie": "session=xyz", "X-CSRF-Token": "c",
                          "Set-Cookie": "s=1", "Accept": "*/*"})
    assert out == {"authorization": MASK, "cookie": MASK, "x-csrf-token": MASK, "set-cookie": MASK, "accept": "*/*"}


def test_json_masks_secret_keys_at_any_depth_but_keeps_structure() -> None:
    body = {"name": "r", "token": "ROBOTTOKEN123", "nested": [{"password": "pw12345678", "client_secret": "s3cr3t!"}],
            "app": {"token": {"token_code": "code123456", "title": "t"}}, "flag": {"access_token": True}}
    out = redact_json(body)
    assert out["name"] == "r" and out["token"] == MASK
    assert out["nested"][0] == {"password": MASK, "client_secret": MASK}
    assert out["app"]["token"] == {"token_code": MASK, "title": "t"}
    assert out["flag"] == {"access_token": True}


def test_url_fragment_and_query_tokens_are_masked() -> None:
    url = "http://q/oauth/localapp#access_token=SECRETTOKEN42&token_type=Bearer&expires_in=3600"
    out = redact_url(url)
    assert "SECRETTOKEN42" not in out and "token_type=Bearer" in out
    assert redact_url("http://q/api/v1/user/robots?token=true") == "http://q/api/v1/user/robots?token=true"


def test_form_bodies_and_registered_secrets_are_masked() -> None:
    form = "client_id=abc&_csrf_token=CSRFVALUE99&scope=repo%3Aread"
    assert "CSRFVALUE99" not in redact_body(form, "application/x-www-form-urlencoded")
    BearerAuth("registered-secret-value-1")
    assert scrub("error mentioning registered-secret-value-1 here") == f"error mentioning {MASK} here"
    assert "registered-secret-value-1" not in redact_body("plain registered-secret-value-1", "text/plain")


def test_every_occurrence_of_overlapping_secrets_is_masked_whole() -> None:
    for value in ("outer-SECRET-inner-part", "SECRET-inner", "part-and-more-xyz", "lonely-secret-42"):
        register_secret(value)
    # One secret inside another, one overlapping its end, a repeat, and text the secrets leave alone.
    text = "a outer-SECRET-inner-part-and-more-xyz b SECRET-inner c lonely-secret-42 lonely-secret-42 d"
    assert scrub(text) == f"a {MASK} b {MASK} c {MASK} {MASK} d"
    assert scrub("nothing to hide") == "nothing to hide" and scrub("") == ""


def test_recorder_captures_exchanges_without_secrets() -> None:
    token = "MINTEDTOKEN-abcdef-0001"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/csrf_token":
            return httpx.Response(200, json={"csrf_token": "CSRF-abcdef-42"})
        if request.url.path == "/api/v1/user/":
            return httpx.Response(200, json={"username": "someone"})
        return httpx.Response(302, headers={"Location": f"http://q/oauth/localapp#access_token={token}"})

    recorder = Recorder()
    with httpx.Client(base_url="http://q", transport=httpx.MockTransport(handler),
                      event_hooks=recorder.hooks()) as http:
        assert mint_token(http, "cid", "http://q/oauth/localapp", ["repo:read"]) == token
    text = "\n".join(e.render() for e in recorder.recent())
    # The grant first reads the user (a session the target ended is signed in again there), then the CSRF token.
    assert [e.url.rsplit("/q", 1)[-1] for e in recorder.recent()] == ["/api/v1/user/", "/csrf_token",
                                                                      "/oauth/authorizeapp"]
    assert "/oauth/authorizeapp -> 302" in recorder.recent()[2].title
    for secret in (token, "CSRF-abcdef-42"):
        assert secret not in text
    assert "scope=repo:read" in text
    json.dumps([e.request_headers for e in recorder.recent()])  # plain data, serializable
