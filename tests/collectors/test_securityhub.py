"""SecurityHubCollector against respx fakes shaped like AWS Security Hub's GetFindings.

Shapes from the service model botocore ships (``botocore/data/securityhub/2018-10-26/
service-2.json``: ``POST /findings``, request ``{Filters, MaxResults 1..100, NextToken}``,
response ``{Findings: [AwsSecurityFinding], NextToken}``; errors InternalException 500,
InvalidInputException 400, InvalidAccessException 401, LimitExceededException 429,
AccessDeniedException 403, each ``{Message, Code}`` with ``x-amzn-ErrorType``) and from
the consolidated control finding samples of the Security Hub user guide
("Sample control findings": ``Id`` ``arn:aws:securityhub:<region>:<account>:
security-control/<ControlId>/finding/<uuid>``, ``GeneratorId`` ``security-control/
<ControlId>``, ``Compliance.SecurityControlId`` and ``AssociatedStandards``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pydantic
import pytest
import respx

from collectors.base import CollectContext, CollectorError, ErrorKind
from collectors.records import RecordKind, Severity
from collectors.records_posture import PostureStatus, Provider
from collectors.securityhub import (
    SecurityHubCollector,
    SecurityHubSettings,
    TokenBucket,
)

REGION = "eu-west-1"
URL = f"https://securityhub.{REGION}.amazonaws.com/findings"
ACCESS_KEY = "AKIDEXAMPLE0TESTKEY"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FQoGZXIvYXdzEXAMPLEsessiontokenvalue0123456789"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
FSBP = "standards/aws-foundational-security-best-practices/v/1.0.0"
CIS = "ruleset/cis-aws-foundations-benchmark/v/1.2.0"
PCI = "standards/pci-dss/v/3.2.1"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def collector(sleeps: Sleeps | None = None, **overrides: Any) -> SecurityHubCollector:
    base: dict[str, Any] = {"regions": [REGION], "http": {"max_retries": 2}}
    base.update(overrides)
    return SecurityHubCollector("securityhub", SecurityHubSettings.model_validate(base),
                                sleep=sleeps or Sleeps(), clock=lambda: 1000.0)


def ctx(state: dict[str, Any] | None = None, now: datetime = NOW) -> CollectContext:
    return CollectContext(name="securityhub", now=now, state=state or {},
                          logger=logging.getLogger("test.securityhub"))


def run(coll: SecurityHubCollector, context: CollectContext | None = None) -> Any:
    return asyncio.run(coll.collect(context or ctx()))


def finding(control: str = "IAM.1", status: str = "FAILED", *, uid: str = "0001",
            label: str = "HIGH", workflow: str = "NEW", record_state: str = "ACTIVE",
            standards: tuple[str, ...] = (FSBP, CIS), account: str = ACCOUNT,
            resource: str | None = None, first: str = "2026-10-01T08:00:00.000Z",
            last: str = "2026-11-23T06:00:00.000Z", updated: str = "2026-11-23T06:00:00.000Z",
            ) -> dict[str, Any]:
    """A consolidated control finding as in the user guide's samples."""
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:securityhub:{REGION}:{account}:security-control/{control}/finding/"
              f"a1b2c3d4-5678-90ab-cdef-EXAMPLE{uid}",
        "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/securityhub",
        "ProductName": "Security Hub",
        "CompanyName": "AWS",
        "Region": REGION,
        "GeneratorId": f"security-control/{control}",
        "AwsAccountId": account,
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "FirstObservedAt": first,
        "LastObservedAt": last,
        "CreatedAt": first,
        "UpdatedAt": updated,
        "Severity": {"Label": label, "Normalized": 70, "Original": label},
        "Title": "An example control",
        "ProductFields": {"RelatedAWSResources:0/name": "securityhub-example",
                          "aws/securityhub/ProductName": "Security Hub",
                          "aws/securityhub/CompanyName": "AWS"},
        "Resources": [{"Type": "AwsAccount",
                       "Id": resource or f"AWS::::Account:{account}",
                       "Partition": "aws", "Region": REGION}],
        "Compliance": {"Status": status, "SecurityControlId": control,
                       "AssociatedStandards": [{"StandardsId": s} for s in standards]},
        "WorkflowState": "NEW",
        "Workflow": {"Status": workflow},
        "RecordState": record_state,
    }


def page(findings: list[dict[str, Any]], next_token: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"Findings": findings}
    if next_token:
        body["NextToken"] = next_token
    return httpx.Response(200, json=body)


def aws_error(status: int, code: str, message: str = "") -> httpx.Response:
    return httpx.Response(status, json={"Message": message or code, "Code": code},
                          headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"})


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def results(result: Any) -> dict[str, Any]:
    return {r.check: r for r in result.records_of(RecordKind.POSTURE_RESULT)}


# -- paging, filters, mapping ------------------------------------------------------


@respx.mock
def test_pages_follow_next_token_and_map_findings_by_value() -> None:
    route = respx.post(URL).mock(side_effect=[
        page([finding("IAM.1", "FAILED", uid="0001")], next_token="tok-2"),
        page([finding("S3.1", "PASSED", uid="0002", label="MEDIUM", standards=(PCI,)),
              finding("CloudTrail.1", "FAILED", uid="0003", label="CRITICAL")]),
    ])
    result = run(collector())
    sent = bodies(route)
    assert len(sent) == 2
    assert "NextToken" not in sent[0] and sent[1]["NextToken"] == "tok-2"
    assert sent[0]["MaxResults"] == 100
    by_check = results(result)
    iam = by_check["IAM.1"]
    assert iam.provider is Provider.AWS and iam.account == ACCOUNT
    assert iam.resource == f"AWS::::Account:{ACCOUNT}"
    assert iam.service == "iam" and iam.severity is Severity.HIGH
    assert iam.status is PostureStatus.FAIL and iam.resolved_at is None and not iam.muted
    assert iam.frameworks == ("aws_fsbp", "cis")
    assert iam.first_seen_at == datetime(2026, 10, 1, 8, tzinfo=UTC)
    assert iam.last_seen_at == datetime(2026, 11, 23, 6, tzinfo=UTC)
    assert iam.id.endswith("security-control/IAM.1/finding/a1b2c3d4-5678-90ab-cdef-EXAMPLE0001")
    assert iam.source == "securityhub"
    s3 = by_check["S3.1"]
    assert (s3.status, s3.service, s3.severity, s3.frameworks, s3.resolved_at) == (
        PostureStatus.PASS, "s3", Severity.MEDIUM, ("pci",), None)
    assert by_check["CloudTrail.1"].service == "cloudtrail"
    assert by_check["CloudTrail.1"].severity is Severity.CRITICAL
    assert result.complete == frozenset()  # Security Hub keeps 90 days: never the whole set
    assert result.state["version"] == 1
    assert set(result.state["episodes"]) == {
        by_check["IAM.1"].id, by_check["CloudTrail.1"].id}


@respx.mock
def test_first_run_is_full_from_history_start_then_incremental_from_watermark() -> None:
    route = respx.post(URL).mock(return_value=page([finding()]))
    coll = collector()
    first = run(coll)
    filters = bodies(route)[0]["Filters"]
    assert filters["ProductName"] == [{"Value": "Security Hub", "Comparison": "EQUALS"},
                                      {"Value": "Security Hub CSPM", "Comparison": "EQUALS"}]
    assert [f["Value"] for f in filters["ComplianceStatus"]] == [
        "PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"]
    # the previous quarter (2026-07-01) less the 14-day margin
    assert filters["UpdatedAt"] == [{"Start": "2026-06-17T00:00:00.000Z",
                                     "End": "2026-11-23T12:05:00.000Z"}]
    assert first.state["last_full"] == first.state["watermark"] == "2026-11-23T12:00:00.000Z"

    later = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    second = run(coll, ctx(first.state, now=later))
    filters = bodies(route)[1]["Filters"]
    assert filters["UpdatedAt"] == [{"Start": "2026-11-23T11:00:00.000Z",  # less 1h overlap
                                     "End": "2026-11-23T13:05:00.000Z"}]
    assert second.state["last_full"] == "2026-11-23T12:00:00.000Z"
    assert second.state["watermark"] == "2026-11-23T13:00:00.000Z"

    next_day = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)  # full_sync_interval 24h passed
    run(coll, ctx(second.state, now=next_day))
    assert bodies(route)[2]["Filters"]["UpdatedAt"][0]["Start"] == "2026-06-17T00:00:00.000Z"


@respx.mock
def test_changed_scope_forces_a_full_pass() -> None:
    route = respx.post(URL).mock(return_value=page([]))
    state = run(collector()).state
    run(collector(product_names=["Security Hub CSPM"]),
        ctx(state, now=datetime(2026, 11, 23, 13, tzinfo=UTC)))
    assert bodies(route)[1]["Filters"]["UpdatedAt"][0]["Start"] == "2026-06-17T00:00:00.000Z"


@respx.mock
def test_requests_are_sigv4_signed_with_the_resolved_credentials() -> None:
    route = respx.post(URL).mock(return_value=page([]))
    run(collector())
    request = route.calls[0].request
    auth = request.headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert f"/{REGION}/securityhub/aws4_request" in auth
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token" in auth
    assert request.headers["X-Amz-Date"].endswith("Z") and len(request.headers["X-Amz-Date"]) == 16
    assert request.headers["X-Amz-Security-Token"] == SESSION_TOKEN
    assert SECRET_KEY not in auth


def test_signature_matches_botocore_for_the_same_request() -> None:
    """Our header copy is exactly what botocore computes for the same request and time."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials

    from collectors.securityhub import SigV4HttpxAuth

    frozen = botocore.credentials.ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, None)
    body = b'{"MaxResults": 1}'
    request = httpx.Request("POST", URL, content=body,
                            headers={"Content-Type": "application/json"})
    auth = SigV4HttpxAuth(None, REGION, TokenBucket(3, 6))
    auth.sign(request, frozen)
    expected = botocore.awsrequest.AWSRequest(
        method="POST", url=URL, data=body, headers={"Content-Type": "application/json",
                                                    "X-Amz-Date": request.headers["X-Amz-Date"]})
    expected.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = botocore.auth.SigV4Auth(frozen, "securityhub", REGION)
    canonical = signer.canonical_request(expected)
    string_to_sign = signer.string_to_sign(expected, canonical)
    signature = signer.signature(string_to_sign, expected)
    assert request.headers["Authorization"].endswith(f"Signature={signature}")


# -- throttling ---------------------------------------------------------------------


@respx.mock
def test_429_limit_exceeded_is_retried_then_succeeds() -> None:
    sleeps = Sleeps()
    route = respx.post(URL).mock(side_effect=[
        aws_error(429, "LimitExceededException", "Rate exceeded"),
        page([finding()]),
    ])
    result = run(collector(sleeps))
    assert route.call_count == 2 and len(results(result)) == 1
    assert sleeps.calls and sleeps.calls[0] > 0


@respx.mock
def test_400_throttling_exception_is_retried_then_succeeds() -> None:
    sleeps = Sleeps()
    route = respx.post(URL).mock(side_effect=[
        aws_error(400, "ThrottlingException", "Rate exceeded"),
        aws_error(400, "TooManyRequestsException", "Too many requests"),
        page([finding()]),
    ])
    result = run(collector(sleeps))
    assert route.call_count == 3 and len(results(result)) == 1
    assert len(sleeps.calls) == 2


@respx.mock
def test_throttling_that_persists_is_rate_limited() -> None:
    respx.post(URL).mock(return_value=aws_error(429, "LimitExceededException"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.RATE_LIMITED


def test_token_bucket_allows_the_burst_then_paces_at_the_rate() -> None:
    sleeps = Sleeps()
    bucket = TokenBucket(3.0, 6, clock=lambda: 50.0, sleep=sleeps)

    async def take(n: int) -> None:
        for _ in range(n):
            await bucket.acquire()

    asyncio.run(take(8))
    assert sleeps.calls == pytest.approx([1 / 3, 2 / 3])
    assert bucket.waited == pytest.approx(1.0)


@respx.mock
def test_pages_beyond_the_burst_wait_for_the_bucket() -> None:
    sleeps = Sleeps()
    responses = [page([finding(uid=f"{i:04d}")], next_token=f"t{i}") for i in range(7)]
    respx.post(URL).mock(side_effect=[*responses, page([])])
    result = run(collector(sleeps))
    assert len(results(result)) == 1  # one control, seven findings of it
    assert len(result.records_of(RecordKind.POSTURE_RESULT)) == 7
    assert sleeps.calls == pytest.approx([1 / 3, 2 / 3])  # requests 7 and 8 of a frozen clock


# -- errors -------------------------------------------------------------------------


@respx.mock
def test_access_denied_is_a_permission_error_without_retry() -> None:
    route = respx.post(URL).mock(return_value=aws_error(
        403, "AccessDeniedException", "User is not authorized to perform: "
        "securityhub:GetFindings"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.PERMISSION
    assert "securityhub:GetFindings" in str(err.value)
    assert route.call_count == 1


@pytest.mark.parametrize("code", ["UnrecognizedClientException", "InvalidSignatureException"])
@respx.mock
def test_refused_credentials_are_auth_errors(code: str) -> None:
    route = respx.post(URL).mock(return_value=aws_error(400, code))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.AUTH and code in str(err.value)
    assert route.call_count == 1


@respx.mock
def test_security_hub_not_enabled_says_so() -> None:
    respx.post(URL).mock(return_value=aws_error(
        401, "InvalidAccessException", f"Account {ACCOUNT} is not subscribed to AWS Security "
        "Hub"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.CONFIG
    assert "not enabled" in str(err.value) and REGION in str(err.value)


@respx.mock
def test_invalid_input_is_a_client_error() -> None:
    respx.post(URL).mock(return_value=aws_error(400, "InvalidInputException"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.CLIENT


@respx.mock
def test_5xx_is_retried_then_fails_as_server() -> None:
    route = respx.post(URL).mock(return_value=aws_error(500, "InternalException"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.SERVER
    assert route.call_count == 3  # max_retries 2


@respx.mock
def test_5xx_then_success() -> None:
    respx.post(URL).mock(side_effect=[httpx.Response(503), page([finding()])])
    assert len(results(run(collector()))) == 1


@respx.mock
def test_timeouts_are_retried_then_fail_as_timeout() -> None:
    respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.TIMEOUT


@respx.mock
def test_truncated_body_is_malformed_response() -> None:
    text = json.dumps({"Findings": [finding()], "NextToken": "x"})
    respx.post(URL).mock(return_value=httpx.Response(
        200, content=text[: len(text) // 2].encode(),
        headers={"Content-Type": "application/json"}))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@pytest.mark.parametrize("body", [{"findings": []}, [], {"Findings": {}},
                                  {"Findings": [], "NextToken": 7}])
@respx.mock
def test_wrong_shape_is_malformed_response(body: Any) -> None:
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


@respx.mock
def test_a_repeating_next_token_fails_instead_of_looping() -> None:
    respx.post(URL).mock(side_effect=[page([], "same"), page([], "same"), page([], "same")])
    with pytest.raises(CollectorError) as err:
        run(collector())
    assert err.value.kind is ErrorKind.MALFORMED_RESPONSE


# -- values -------------------------------------------------------------------------


@respx.mock
def test_unknown_enum_values_are_skipped_and_counted_unmapped() -> None:
    respx.post(URL).mock(return_value=page([
        finding("IAM.1", label="SEVERE"),
        finding("IAM.2", status="ERROR"),
        finding("IAM.3", workflow="IN_REVIEW"),
        finding("IAM.4", record_state="DELETED"),
        finding("IAM.5"),
        {"Id": "x"},  # no account, no resources
        "not an object",
    ]))
    result = run(collector())
    assert set(results(result)) == {"IAM.5"}
    assert result.record_errors[ErrorKind.UNMAPPED_VALUE] == 4
    assert result.record_errors[ErrorKind.MALFORMED_RECORD] == 2


@respx.mock
def test_informational_is_low_and_warning_not_available_are_manual() -> None:
    respx.post(URL).mock(return_value=page([
        finding("Config.1", "WARNING", uid="0001", label="INFORMATIONAL"),
        finding("EC2.19", "NOT_AVAILABLE", uid="0002"),
    ]))
    by_check = results(run(collector()))
    assert by_check["Config.1"].severity is Severity.LOW
    assert by_check["Config.1"].status is PostureStatus.MANUAL
    assert by_check["EC2.19"].status is PostureStatus.MANUAL
    assert by_check["EC2.19"].service == "ec2"


@respx.mock
def test_suppressed_is_muted() -> None:
    respx.post(URL).mock(return_value=page([finding(workflow="SUPPRESSED"),
                                            finding("IAM.2", workflow="NOTIFIED")]))
    by_check = results(run(collector()))
    assert by_check["IAM.1"].muted is True and by_check["IAM.2"].muted is False


@respx.mock
def test_archived_failing_finding_is_resolved_at_updated_at() -> None:
    respx.post(URL).mock(return_value=page([finding(
        record_state="ARCHIVED", updated="2026-11-20T10:00:00.000Z",
        last="2026-11-20T10:00:00.000Z")]))
    result = run(collector())
    iam = results(result)["IAM.1"]
    assert iam.status is PostureStatus.FAIL
    assert iam.resolved_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert result.state["episodes"] == {}


@respx.mock
def test_archived_finding_that_never_failed_is_deleted() -> None:
    archived = finding("S3.1", "PASSED", record_state="ARCHIVED")
    respx.post(URL).mock(return_value=page([archived]))
    result = run(collector())
    assert result.records_of(RecordKind.POSTURE_RESULT) == []
    assert result.deleted == {RecordKind.POSTURE_RESULT: [("securityhub", archived["Id"])]}


@respx.mock
def test_a_failing_finding_that_passes_is_resolved_and_keeps_its_episode() -> None:
    failing = finding(first="2026-09-01T00:00:00.000Z", updated="2026-11-23T06:00:00.000Z")
    passing = finding(status="PASSED", first="2026-09-01T00:00:00.000Z",
                      last="2026-11-23T12:30:00.000Z", updated="2026-11-23T12:30:00.000Z")
    route = respx.post(URL).mock(side_effect=[page([failing]), page([passing]),
                                              page([{**passing, "RecordState": "ARCHIVED",
                                                     "UpdatedAt": "2026-11-23T13:40:00.000Z"}])])
    coll = collector()
    first = run(coll)
    assert results(first)["IAM.1"].status is PostureStatus.FAIL
    second = run(coll, ctx(first.state, now=datetime(2026, 11, 23, 13, tzinfo=UTC)))
    iam = results(second)["IAM.1"]
    assert iam.status is PostureStatus.PASS
    assert iam.first_seen_at == datetime(2026, 9, 1, tzinfo=UTC)
    assert iam.resolved_at == datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
    # archived after passing: gone, with the failure's lifecycle kept
    third = run(coll, ctx(second.state, now=datetime(2026, 11, 23, 14, tzinfo=UTC)))
    gone = results(third)["IAM.1"]
    assert (gone.status, gone.first_seen_at, gone.resolved_at) == (
        PostureStatus.FAIL, datetime(2026, 9, 1, tzinfo=UTC),
        datetime(2026, 11, 23, 12, 30, tzinfo=UTC))
    assert route.call_count == 3


@respx.mock
def test_a_new_failure_in_an_incremental_run_starts_at_updated_at() -> None:
    passing = finding(status="PASSED", first="2026-09-01T00:00:00.000Z")
    failing = finding(first="2026-09-01T00:00:00.000Z", last="2026-11-23T12:40:00.000Z",
                      updated="2026-11-23T12:40:00.000Z")
    respx.post(URL).mock(side_effect=[page([passing]), page([failing])])
    coll = collector()
    first = run(coll)
    second = run(coll, ctx(first.state, now=datetime(2026, 11, 23, 13, tzinfo=UTC)))
    iam = results(second)["IAM.1"]
    assert iam.status is PostureStatus.FAIL
    assert iam.first_seen_at == datetime(2026, 11, 23, 12, 40, tzinfo=UTC)


@respx.mock
def test_a_failing_finding_that_expired_unarchived_is_deleted_on_the_next_full_pass() -> None:
    failing = finding()
    respx.post(URL).mock(side_effect=[page([failing]), page([finding("S3.1", label="SEVERE")]),
                                      page([finding("S3.1", "PASSED")])])
    coll = collector()
    first = run(coll)
    next_day = datetime(2026, 11, 24, 12, 30, tzinfo=UTC)
    # a full pass with a skipped finding concludes nothing
    skipped = run(coll, ctx({**first.state, "last_full": "2026-11-22T00:00:00.000Z"},
                            now=next_day))
    assert skipped.deleted == {} and failing["Id"] in skipped.state["episodes"]
    later = run(coll, ctx({**skipped.state, "last_full": "2026-11-22T00:00:00.000Z"},
                          now=next_day))
    assert later.deleted == {RecordKind.POSTURE_RESULT: [("securityhub", failing["Id"])]}
    assert later.state["episodes"] == {}


@respx.mock
def test_legacy_standard_findings_use_control_id_and_standards_arn() -> None:
    legacy = finding("IAM.4")
    del legacy["Compliance"]["SecurityControlId"]
    del legacy["Compliance"]["AssociatedStandards"]
    legacy["GeneratorId"] = "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/" \
                            "v/1.2.0/rule/1.12"
    legacy["ProductFields"] = {"StandardsArn": "arn:aws:securityhub:::standards/"
                                               "aws-foundational-security-best-practices/v/1.0.0",
                               "ControlId": "IAM.4"}
    respx.post(URL).mock(return_value=page([legacy]))
    iam = results(run(collector()))["IAM.4"]
    assert iam.service == "iam" and iam.frameworks == ("aws_fsbp",)


@respx.mock
def test_regions_and_aggregation_duplicates_are_read_once_per_finding() -> None:
    other = "https://securityhub.us-east-1.amazonaws.com/findings"
    older = finding(updated="2026-11-22T00:00:00.000Z", last="2026-11-22T00:00:00.000Z")
    first = respx.post(URL).mock(return_value=page([older]))
    second = respx.post(other).mock(return_value=page([finding(), finding("S3.1")]))
    result = run(collector(regions=[REGION, "us-east-1"]))
    assert first.call_count == second.call_count == 1
    assert "/us-east-1/securityhub/" in second.calls[0].request.headers["Authorization"]
    by_check = results(result)
    assert len(result.records_of(RecordKind.POSTURE_RESULT)) == 2
    assert by_check["IAM.1"].last_seen_at == datetime(2026, 11, 23, 6, tzinfo=UTC)


# -- secrets, settings, check ---------------------------------------------------------


@respx.mock
def test_no_secret_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    respx.post(URL).mock(side_effect=[
        page([finding(label="SEVERE")]),
        aws_error(400, "InvalidSignatureException",
                  f"The request signature we calculated does not match; key {SECRET_KEY}"),
    ])
    run(collector())
    with pytest.raises(CollectorError) as err:
        run(collector())
    text = caplog.text + str(err.value)
    assert "botocore.auth" not in caplog.text  # its DEBUG canonical request holds the token
    assert SECRET_KEY not in text and SESSION_TOKEN not in text


def test_missing_botocore_fails_validation_naming_the_extra(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "botocore", None)
    with pytest.raises(pydantic.ValidationError) as err:
        SecurityHubSettings.model_validate({"regions": [REGION]})
    assert "devsecops-maturity-exporter[securityhub]" in str(err.value)


@pytest.mark.parametrize("settings", [
    {"regions": []},
    {"regions": ["Europe"]},
    {"regions": [REGION, REGION]},
    {"regions": [REGION], "role_arn": "not-an-arn"},
    {"regions": [REGION], "role_arn": "arn:aws:iam::123456789012:role/Reader",
     "accounts": [{"role_arn": "arn:aws:iam::210987654321:role/Reader"}]},
    {"regions": [REGION], "endpoint_url": "http://localhost:4566"},
    {"regions": [REGION], "page_size": 101},
    {"regions": [REGION], "frameworks": {"CIS": ["x"]}},
])
def test_bad_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        SecurityHubSettings.model_validate(settings)


def test_accounts_make_one_target_each_and_roles_are_assumed_lazily() -> None:
    coll = collector(accounts=[
        {"role_arn": "arn:aws:iam::210987654321:role/SecurityHubReader",
         "external_id": "ext-1"},
        {"role_arn": "arn:aws:iam::310987654321:role/SecurityHubReader",
         "regions": ["us-east-1"]},
    ])
    targets = coll.targets()
    assert [(t.label, t.regions) for t in targets] == [
        ("accounts[0]", (REGION,)), ("accounts[1]", ("us-east-1",))]
    session, base = coll._base_session()
    creds = coll.credentials(targets[0], session, base)
    assert type(creds).__name__ == "DeferredRefreshableCredentials"  # no STS call yet
    assert coll.endpoint("cn-north-1") == "https://securityhub.cn-north-1.amazonaws.com.cn"


@respx.mock
def test_check_asks_one_finding_per_region() -> None:
    route = respx.post(URL).mock(side_effect=[page([finding()], "more"),
                                              aws_error(403, "AccessDeniedException")])
    coll = collector()
    assert asyncio.run(coll.check(ctx())) == []
    assert bodies(route)[0]["MaxResults"] == 1 and route.call_count == 1
    problems = asyncio.run(coll.check(ctx()))
    assert len(problems) == 1 and problems[0].startswith(f"base {REGION}: permission")


def test_no_credentials_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    coll = collector()
    monkeypatch.setattr(type(coll._botocore.session.Session()), "get_credentials",
                        lambda self: None)
    with pytest.raises(CollectorError) as err:
        run(coll)
    assert err.value.kind is ErrorKind.AUTH and "no AWS credentials" in str(err.value)
