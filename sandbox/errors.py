"""SandboxError and ErrorCode: the API's stable, machine-readable error codes.

A code never changes meaning once released. Messages are templates that may name columns,
constructs, positions and ids, and never a data value.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    # authentication and authorization
    unauthenticated = "unauthenticated"
    forbidden = "forbidden"
    not_found = "not_found"
    # request shape
    invalid_request = "invalid_request"
    method_not_allowed = "method_not_allowed"
    payload_too_large = "payload_too_large"
    # datasets and connectors
    dataset_name_taken = "dataset_name_taken"
    malformed_file = "malformed_file"
    unsupported_format = "unsupported_format"
    unknown_encoding = "unknown_encoding"
    unknown_column = "unknown_column"
    level_not_allowed = "level_not_allowed"
    invalid_bounds = "invalid_bounds"
    source_unreachable = "source_unreachable"
    source_auth_failed = "source_auth_failed"
    source_not_found = "source_not_found"
    source_query_refused = "source_query_refused"
    source_read_failed = "source_read_failed"
    no_source = "no_source"
    # scenarios
    scenario_not_approved = "scenario_not_approved"
    scenario_expired = "scenario_expired"
    scenario_state = "scenario_state"
    column_not_granted = "column_not_granted"
    mode_not_allowed = "mode_not_allowed"
    budget_exceeded = "budget_exceeded"
    # jobs
    gate_rejected = "gate_rejected"
    job_state = "job_state"
    not_released = "not_released"
    # review
    review_own_job = "review_own_job"
    review_already_approved = "review_already_approved"
    # web console
    csrf_failed = "csrf_failed"
    # workspace (sanitized engine errors: the engine's text never crosses the boundary)
    query_conversion_failed = "query_conversion_failed"
    query_out_of_range = "query_out_of_range"
    query_division_by_zero = "query_division_by_zero"
    query_failed = "query_failed"
    query_timeout = "query_timeout"
    query_out_of_memory = "query_out_of_memory"
    result_too_large = "result_too_large"
    workspace_crashed = "workspace_crashed"
    workspace_busy = "workspace_busy"
    # governance (issue 8)
    commercial_purpose = "commercial_purpose"
    retention_not_reached = "retention_not_reached"
    already_destroyed = "already_destroyed"
    job_stopped = "job_stopped"
    # privacy layer
    output_pii = "output_pii"
    # anything else
    internal = "internal"
    # differential privacy (dp mode)
    epsilon_too_large = "epsilon_too_large"
    dp_repeat_pending = "dp_repeat_pending"
    dp_failed = "dp_failed"
    # data products (issue 10)
    param_not_admissible = "param_not_admissible"
    param_missing = "param_missing"
    param_unknown = "param_unknown"
    param_misplaced = "param_misplaced"
    param_schema_invalid = "param_schema_invalid"
    template_not_approved = "template_not_approved"
    template_pin_mismatch = "template_pin_mismatch"
    not_licensed = "not_licensed"
    product_withdrawn = "product_withdrawn"
    output_disclosive = "output_disclosive"
    product_budget_exceeded = "product_budget_exceeded"
    price_above_cap = "price_above_cap"
    no_price_cap = "no_price_cap"


# What a workspace may report as a job's reason_code: the sanitized engine failures and its limits.
WORKSPACE_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.query_conversion_failed,
        ErrorCode.query_out_of_range,
        ErrorCode.query_division_by_zero,
        ErrorCode.query_failed,
        ErrorCode.query_timeout,
        ErrorCode.query_out_of_memory,
        ErrorCode.result_too_large,
        ErrorCode.workspace_crashed,
        ErrorCode.job_stopped,  # the parent stopped it (cancelled or revoked); never a job's reason_code
    }
)

_TEMPLATES: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.unauthenticated: (401, "A valid bearer token is required."),
    ErrorCode.forbidden: (403, "Your role may not do this."),
    ErrorCode.not_found: (404, "No such {kind}."),
    ErrorCode.invalid_request: (422, "The request is not valid: {reason}."),
    ErrorCode.method_not_allowed: (405, "Method not allowed on this resource."),
    ErrorCode.payload_too_large: (413, "The upload is larger than {limit_mb} MiB."),
    ErrorCode.dataset_name_taken: (409, "A dataset named {name!r} already exists."),
    ErrorCode.malformed_file: (422, "The file could not be read: {problem} (line {line}, column {column})."),
    ErrorCode.unsupported_format: (422, "Unsupported file format {format!r}."),
    ErrorCode.unknown_encoding: (422, "The file is not in a supported text encoding (UTF-8, GB18030, GBK)."),
    ErrorCode.unknown_column: (422, "Dataset has no column {column!r}."),
    ErrorCode.level_not_allowed: (422, "Column {column!r} cannot take level {level!r}: {reason}."),
    ErrorCode.invalid_bounds: (422, "Column {column!r}: bounds need lower <= upper, both numbers."),
    ErrorCode.source_unreachable: (
        502,
        "The source database could not be reached: check its host, port and database name.",
    ),
    ErrorCode.source_auth_failed: (422, "The source database refused the user name or password."),
    ErrorCode.source_not_found: (
        422,
        "The source table, or a relation or column the query names, does not exist or is not readable.",
    ),
    ErrorCode.source_query_refused: (422, "A source query must be exactly one read-only SELECT: {problem}."),
    ErrorCode.source_read_failed: (502, "The source database failed while being read: {problem}."),
    ErrorCode.no_source: (
        422,
        "Dataset {dataset_id} was not registered from a database source; upload the new version's file.",
    ),
    ErrorCode.scenario_not_approved: (409, "Scenario {scenario_id} is not approved (state {state})."),
    ErrorCode.scenario_expired: (409, "Scenario {scenario_id} expired."),
    ErrorCode.scenario_state: (409, "Scenario {scenario_id} is {state}; it cannot be {action}."),
    ErrorCode.column_not_granted: (
        422,
        "Column {column!r} of dataset {dataset!r} cannot be granted: {reason}.",
    ),
    ErrorCode.mode_not_allowed: (422, "Output mode {mode!r} is not allowed here: {reason}."),
    ErrorCode.budget_exceeded: (
        409,
        "The job's spend (epsilon {epsilon}) exceeds what is left of the scenario's budget "
        "(epsilon {epsilon_left}).",
    ),
    ErrorCode.gate_rejected: (422, "The query was rejected by the policy gate; see detail for every reason."),
    ErrorCode.job_state: (409, "Job {job_id} is {state}; it cannot be {action}."),
    ErrorCode.not_released: (409, "Job {job_id} has no released output (state {state})."),
    ErrorCode.review_own_job: (403, "Nobody may review a job they submitted."),
    ErrorCode.review_already_approved: (
        409,
        "You already approved job {job_id}; its next approval must come from a different reviewer.",
    ),
    ErrorCode.csrf_failed: (403, "The form's CSRF token is missing or does not match your session."),
    ErrorCode.query_conversion_failed: (422, "A value could not be converted to the requested type."),
    ErrorCode.query_out_of_range: (422, "A value was out of range for its type."),
    ErrorCode.query_division_by_zero: (422, "The query divided by zero."),
    ErrorCode.query_failed: (422, "The query failed while running."),
    ErrorCode.query_timeout: (422, "The query ran longer than the workspace allows ({limit_s} s)."),
    ErrorCode.query_out_of_memory: (422, "The query needed more memory than the workspace allows."),
    ErrorCode.result_too_large: (
        422,
        "The query's result has more rows than the workspace allows ({limit} rows).",
    ),
    ErrorCode.workspace_crashed: (500, "The workspace process ended unexpectedly."),
    ErrorCode.workspace_busy: (503, "Every workspace for this call is busy; try again shortly."),
    ErrorCode.commercial_purpose: (
        422,
        "A public-interest (free) scenario may not carry a commercial purpose: the purpose names {term!r} "
        "from the negative list.",
    ),
    ErrorCode.retention_not_reached: (
        409,
        "Audit events younger than the retention period ({days} days, before {cutoff}) cannot be purged.",
    ),
    ErrorCode.already_destroyed: (409, "{kind} {object_id} was already destroyed."),
    ErrorCode.job_stopped: (409, "The job was stopped while running: it was cancelled or its grant revoked."),
    ErrorCode.output_pii: (
        422,
        "The output contains what looks like personal information; the check report names the columns "
        "and entity types.",
    ),
    ErrorCode.internal: (500, "Internal error; the event was logged with request id {request_id}."),
    ErrorCode.epsilon_too_large: (
        422,
        "Epsilon {epsilon} is more than the policy bundle allows ({limit}) for {what}.",
    ),
    ErrorCode.dp_repeat_pending: (
        409,
        "An identical dp query of this scenario ({job_id}) is still running; resubmit when it is done, and "
        "its release is returned without a new spend.",
    ),
    ErrorCode.dp_failed: (422, "The dp measurements could not be built for this query: {reason}."),
    ErrorCode.param_not_admissible: (422, "Parameter {param!r} is outside its admissible set: {why}."),
    ErrorCode.param_missing: (422, "Parameter {param!r} needs a value."),
    ErrorCode.param_unknown: (422, "Parameter {param!r} is not declared by the template."),
    ErrorCode.param_misplaced: (
        422,
        "Parameter {param!r} may stand only where a literal of a group, compare or public column may: {why}.",
    ),
    ErrorCode.param_schema_invalid: (422, "The parameter schema is not valid at {param!r}: {why}."),
    ErrorCode.template_not_approved: (
        409,
        "Template {template_id} is not approved: it needs {missing}.",
    ),
    ErrorCode.template_pin_mismatch: (
        409,
        "Template {template_id} was approved for other SQL, parameters, dataset versions or policy bundle; "
        "a new revision needs a new approval.",
    ),
    ErrorCode.not_licensed: (403, "You are not a licensed consumer of product {product_id}."),
    ErrorCode.product_withdrawn: (409, "Product {product_id} was withdrawn."),
    ErrorCode.output_disclosive: (
        422,
        "The call's output failed the disclosure checks ({rules}); nothing was released.",
    ),
    ErrorCode.product_budget_exceeded: (
        409,
        "The call's spend (epsilon {epsilon}) exceeds what is left of your {which} budget for this "
        "product (epsilon {epsilon_left}).",
    ),
    ErrorCode.price_above_cap: (422, "The price {price} is above the fee cap {cap} of {product!r}."),
    ErrorCode.no_price_cap: (
        422,
        "A commercial product needs a fee cap: the pricing ledger has no product {product!r}.",
    ),
}


def status_of(code: ErrorCode) -> int:
    return _TEMPLATES[code][0]


def template_of(code: ErrorCode) -> str:
    return _TEMPLATES[code][1]


class SandboxError(Exception):
    """An error whose message is built only from our template and the named fields."""

    def __init__(self, code: ErrorCode, detail: Any = None, **fields: Any) -> None:
        self.code = code
        self.fields = fields
        self.detail = detail
        try:
            self.message = template_of(code).format(**fields)
        except (KeyError, IndexError):
            self.message = template_of(code).split(":")[0].split("{")[0].strip() or code.value
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return status_of(self.code)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code.value, "message": self.message, "detail": self.detail}}
