"""expect() and the outcome lattice: a wrong target is FAILED, our own breakage is ERROR."""

from __future__ import annotations

import httpx
import pytest

from harness.checks import Outcome, TargetMismatch, classify, expect, worst
from harness.errors import UnknownOperation

STANDARD = {"status": 404, "type": "http://q/api/v1/error/not_found", "title": "not_found",
            "error_type": "not_found", "detail": "Not Found", "error_message": "Not Found"}


def _response(status: int, body: object = None, *, content: bytes | None = None,
              content_type: str = "application/json", url: str = "http://q/api/v1/x") -> httpx.Response:
    request = httpx.Request("GET", url, headers={"Authorization": "Bearer secret-token-xyz"},
                            extensions={"qh_operation": "getX"})
    if content is None:
        return httpx.Response(status, json=body, request=request)
    return httpx.Response(status, content=content, headers={"content-type": content_type}, request=request)


def test_expect_returns_parsed_json_and_none_for_empty() -> None:
    assert expect(_response(200, {"a": 1}), 200) == {"a": 1}
    assert expect(_response(204, content=b""), (200, 204)) is None


def test_status_mismatch_is_a_readable_redacted_target_mismatch() -> None:
    with pytest.raises(TargetMismatch) as info:
        expect(_response(500, {"password": "pw-should-hide"}, url="http://q/cb#access_token=tok-hidden-1"), 200)
    text = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "getX: GET" in text and "expected HTTP 200" in text and "got HTTP 500" in text
    assert "pw-should-hide" not in text and "tok-hidden-1" not in text


def test_standard_shape_and_error_type() -> None:
    assert expect(_response(404, STANDARD), 404, error_type="not_found")["detail"] == "Not Found"
    with pytest.raises(TargetMismatch, match="expected error_type 'invalid_token'"):
        expect(_response(404, STANDARD), 404, error_type="invalid_token")
    with pytest.raises(TargetMismatch, match="missing"):
        expect(_response(404, {"message": "x"}), 404, shape="standard")
    with pytest.raises(TargetMismatch, match="body status"):
        expect(_response(404, {**STANDARD, "status": 400}), 404, shape="standard")


def test_message_and_error_shapes_accept_html_content_type() -> None:
    csrf = _response(403, content=b'{"error": "CSRF token was invalid or missing."}', content_type="text/html")
    assert expect(csrf, 403, shape="error") == {"error": "CSRF token was invalid or missing."}
    with pytest.raises(TargetMismatch):
        expect(csrf, 403, shape="message")
    with pytest.raises(TargetMismatch, match="JSON"):
        expect(_response(200, content=b"<html>", content_type="text/html"), 200)


def test_outcome_lattice_order_and_classification() -> None:
    assert Outcome.DISABLED < Outcome.SKIPPED < Outcome.PASSED < Outcome.FAILED < Outcome.ERROR
    assert worst(Outcome.PASSED, Outcome.SKIPPED) is Outcome.PASSED
    assert worst(Outcome.FAILED, Outcome.ERROR) is Outcome.ERROR
    assert classify(None) is Outcome.PASSED
    assert classify(AssertionError("x")) is Outcome.FAILED
    assert classify(TargetMismatch(_response(500, {}), "boom")) is Outcome.FAILED
    assert classify(KeyError("our bug")) is Outcome.ERROR
    assert classify(UnknownOperation("x")) is Outcome.SKIPPED
    assert classify(ExceptionGroup("g", [AssertionError(), AssertionError()])) is Outcome.FAILED
    assert classify(ExceptionGroup("g", [AssertionError(), ValueError()])) is Outcome.ERROR
    with pytest.raises(pytest.skip.Exception) as skipped:
        pytest.skip("disabled: quota switched off")
    assert classify(skipped.value) is Outcome.DISABLED
    with pytest.raises(pytest.skip.Exception) as lacking:
        pytest.skip("target lacks it")
    assert classify(lacking.value) is Outcome.SKIPPED
