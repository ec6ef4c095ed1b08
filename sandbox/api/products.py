"""/v1/templates and /v1/products: approved templates published as metered data products."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from sandbox import product_call, products, templates
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import (
    Page,
    ProductCallIn,
    ProductCallOut,
    ProductIn,
    ProductOut,
    TemplateApprovalIn,
    TemplateIn,
    TemplateOut,
)

router = APIRouter(tags=["products"])
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post(
    "/v1/templates",
    status_code=201,
    response_model=TemplateOut,
    responses={422: {"description": "a parameter problem, or refused by the gate for some admissible value"}},
)
def create_template(rt: RuntimeDep, user: UserDep, body: TemplateIn) -> TemplateOut:
    return templates.create(rt, user, body)


@router.get("/v1/templates", response_model=Page[TemplateOut])
def list_templates(
    rt: RuntimeDep, user: UserDep, limit: Limit = 50, cursor: str | None = None
) -> Page[TemplateOut]:
    return templates.list_(rt, user, limit, cursor)


@router.get("/v1/templates/{template_id}", response_model=TemplateOut)
def get_template(rt: RuntimeDep, user: UserDep, template_id: str) -> TemplateOut:
    return templates.get(rt, user, template_id)


@router.post("/v1/templates/{template_id}/approvals", response_model=TemplateOut)
def approve_template(
    rt: RuntimeDep, user: UserDep, template_id: str, body: TemplateApprovalIn
) -> TemplateOut:
    """A reviewer's approval, or the source unit's for each of its datasets the template reads."""
    return templates.approve(rt, user, template_id, body)


@router.post("/v1/products", status_code=201, response_model=ProductOut)
def publish(rt: RuntimeDep, user: UserDep, body: ProductIn) -> ProductOut:
    return products.publish(rt, user, body)


@router.get("/v1/products", response_model=Page[ProductOut])
def list_products(
    rt: RuntimeDep,
    user: UserDep,
    state: str | None = "published",
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[ProductOut]:
    return products.list_(rt, user, state, limit, cursor)


@router.get("/v1/products/{product_id}", response_model=ProductOut)
def get_product(rt: RuntimeDep, user: UserDep, product_id: str) -> ProductOut:
    return products.get(rt, user, product_id)


@router.post("/v1/products/{product_id}/withdraw", response_model=ProductOut)
def withdraw(rt: RuntimeDep, user: UserDep, product_id: str) -> ProductOut:
    return products.withdraw(rt, user, product_id)


@router.post(
    "/v1/products/{product_id}/call",
    response_model=ProductCallOut,
    responses={
        202: {"description": "the output awaits a reviewer (per-output review policy)"},
        403: {"description": "not a licensed consumer"},
        409: {"description": "withdrawn, template pin mismatch, or budget exceeded"},
        422: {"description": "a parameter outside its admissible set, or the output failed the checks"},
    },
)
async def call(
    rt: RuntimeDep, user: UserDep, product_id: str, body: ProductCallIn, request: Request
) -> Response:
    """Run the product with parameters; every call, released or refused, is recorded and audited.
    Async with one explicit thread hop: the hot path of a metered API, it takes no second one. The
    body is serialized here once (the model is already valid; FastAPI would validate it again)."""
    generation = getattr(request.state, "generation", None)
    out = await run_in_threadpool(product_call.call, rt, user, product_id, body, generation)
    status = 202 if out.status == "pending_review" else 200
    return Response(out.model_dump_json(), status_code=status, media_type="application/json")
