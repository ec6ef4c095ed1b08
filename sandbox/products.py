"""Products: an approved template published with a form, a fee class and its licensed consumers.

Who: the operator who wrote the template publishes it (seeds: the operator develops products within
its grant); consumers are operators (second-tier developers, 二级开发主体) named by user id.

Fees (seeds O24, O33): `public_interest` products are free and need a public-interest scenario (the
implementing body approved that use); `commercial` products carry a price no higher than the final
fee cap the pricing module computes from the cost ledger (`Settings.pricing_ledger_path`) for the
ledger product named `pricing_product` (default: the product's name). No ledger, no commercial product.

dp budgets: a dp product names a per-consumer budget per month and a lifetime cap, both within the
scenario's budget. The spend is kept per (consumer, template lineage, dataset) in `product_budgets`,
so republishing, revising or re-approving never resets it (`sandbox.product_call`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.metering import ProductForm
from sandbox import audit
from sandbox.api.schemas import Page, ProductIn, ProductOut
from sandbox.auth import Role, has_role, new_id, require
from sandbox.catalog import paginate
from sandbox.catalog.models import Product, Scenario, Template, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.scenarios import aware
from sandbox.templates import current_pin, missing_approvals


def product_out(s: Session, p: Product, actor: User | None) -> ProductOut:
    t = s.get(Template, p.template_id)
    assert t is not None
    sees_consumers = actor is not None and (
        actor.id == p.publisher_id or has_role(actor, Role.admin, Role.auditor)
    )
    return ProductOut(
        id=p.id,
        template_id=p.template_id,
        lineage_id=p.lineage_id,
        scenario_id=t.scenario_id,
        name=p.name,
        form=p.form,
        fee_class=p.fee_class,
        price=p.price,
        price_cap=p.price_cap,
        params=t.params,
        mode=t.mode,
        consumers=list(p.consumers) if sees_consumers else None,
        period_epsilon=p.period_epsilon,
        lifetime_epsilon=p.lifetime_epsilon,
        state=p.state,
        created_at=aware(p.created_at),
    )


def fee_cap(rt: Runtime, pricing_product: str) -> Decimal:
    """The final cap (yuan per native unit) of one ledger product, from the pricing module."""
    from sandbox.disclosure import fee_caps

    caps, _, _ = fee_caps(rt)
    for cap in caps:
        if cap.product == pricing_product:
            return Decimal(cap.final_cap)
    raise SandboxError(ErrorCode.no_price_cap, product=pricing_product)


def _fee(rt: Runtime, sc: Scenario, body: ProductIn) -> tuple[str | None, str | None]:
    if body.fee_class == "public_interest":
        if not sc.public_interest:
            raise SandboxError(
                ErrorCode.invalid_request,
                reason="a public-interest (free) product needs a public-interest scenario",
            )
        if body.price not in (None, "0"):
            raise SandboxError(ErrorCode.invalid_request, reason="a public-interest product is free")
        return None, None
    if body.price is None:
        raise SandboxError(ErrorCode.invalid_request, reason="a commercial product needs a price")
    try:
        price = Decimal(body.price)
    except InvalidOperation:
        raise SandboxError(ErrorCode.invalid_request, reason="the price is a decimal number") from None
    if not price.is_finite() or price < 0:
        raise SandboxError(ErrorCode.invalid_request, reason="the price is a finite number >= 0")
    name = body.pricing_product or body.name
    cap = fee_cap(rt, name)
    if price > cap:
        raise SandboxError(
            ErrorCode.price_above_cap, price=body.price, cap=f"{cap.normalize():f}", product=name
        )
    return f"{price.normalize():f}", f"{cap.normalize():f}"


def publish(rt: Runtime, actor: User, body: ProductIn) -> ProductOut:
    require(actor, Role.operator)
    with rt.catalog.session() as s:
        t = s.get(Template, body.template_id)
        if t is None or t.author_id != actor.id:
            raise SandboxError(ErrorCode.not_found, kind="template")
        if t.state != "approved":
            missing = ", ".join(missing_approvals(s, t)) or "a current revision"
            raise SandboxError(ErrorCode.template_not_approved, template_id=t.id, missing=missing)
        if current_pin(rt, s, t) != t.pin:
            raise SandboxError(ErrorCode.template_pin_mismatch, template_id=t.id)
        sc = s.get(Scenario, t.scenario_id)
        assert sc is not None
        if sc.state != "approved":
            raise SandboxError(ErrorCode.scenario_not_approved, scenario_id=sc.id, state=sc.state)
        price, cap = _fee(rt, sc, body)
        for consumer_id in body.consumers:
            u = s.get(User, consumer_id)
            if u is None or not u.active or not has_role(u, Role.operator):
                raise SandboxError(
                    ErrorCode.invalid_request, reason="each consumer is an active operator's user id"
                )
        period, lifetime = body.period_epsilon, body.lifetime_epsilon
        if t.mode == "dp":
            if period is None or lifetime is None:
                raise SandboxError(
                    ErrorCode.invalid_request, reason="a dp product needs period_epsilon and lifetime_epsilon"
                )
            if not (t.epsilon or 0) <= period <= lifetime <= (sc.epsilon or 0):
                raise SandboxError(
                    ErrorCode.invalid_request,
                    reason="need call epsilon <= period_epsilon <= lifetime_epsilon <= scenario epsilon",
                )
        elif period is not None or lifetime is not None:
            raise SandboxError(ErrorCode.invalid_request, reason="only a dp product has an epsilon budget")
        p = Product(
            id=new_id("prd"),
            template_id=t.id,
            lineage_id=t.lineage_id,
            name=body.name,
            form=ProductForm(body.form).value,
            fee_class=body.fee_class,
            price=price,
            price_cap=cap,
            consumers=list(dict.fromkeys(body.consumers)),
            period_epsilon=period,
            lifetime_epsilon=lifetime,
            state="published",
            publisher_id=actor.id,
            created_at=datetime.now(UTC),
        )
        s.add(p)
        s.flush()
        audit.record(
            s,
            "product.published",
            actor=actor,
            object_type="product",
            object_id=p.id,
            detail={
                "template_id": t.id,
                "lineage_id": t.lineage_id,
                "form": p.form,
                "fee_class": p.fee_class,
                "price": price,
                "price_cap": cap,
                "consumers": p.consumers,
            },
        )
        return product_out(s, p, actor)


def withdraw(rt: Runtime, actor: User, product_id: str) -> ProductOut:
    """The publisher or an admin withdraws a product; its warm workspaces are evicted."""
    require(actor, Role.operator, Role.admin)
    with rt.catalog.session() as s:
        p = s.get(Product, product_id)
        if p is None or (p.publisher_id != actor.id and not has_role(actor, Role.admin)):
            raise SandboxError(ErrorCode.not_found, kind="product")
        if p.state != "withdrawn":
            p.state = "withdrawn"
            audit.record(
                s, "product.withdrawn", actor=actor, object_type="product", object_id=p.id, detail={}
            )
        out = product_out(s, p, actor)
    from sandbox.product_call import evict

    evict(rt, product_id)
    return out


def get(rt: Runtime, actor: User, product_id: str) -> ProductOut:
    with rt.catalog.session() as s:
        p = s.get(Product, product_id)
        if p is None:
            raise SandboxError(ErrorCode.not_found, kind="product")
        return product_out(s, p, actor)


def list_(
    rt: Runtime, actor: User, state: str | None = "published", limit: int = 50, cursor: str | None = None
) -> Page[ProductOut]:
    """The product catalogue (public disclosure lists the same): every user may read it."""
    with rt.catalog.session() as s:
        q = select(Product)
        if state:
            q = q.where(Product.state == state)
        rows, next_cursor = paginate(s, q, Product.id, limit, cursor)
        return Page(items=[product_out(s, p, actor) for p in rows], next_cursor=next_cursor)
