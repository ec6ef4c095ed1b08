"""Catalogue and source-unit pages: schemas with levels, upload with progress, confirming levels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from policies.levels import Classification, ColumnLevel
from sandbox import datasets
from sandbox.api.datasets import _from_upload
from sandbox.api.deps import RuntimeDep
from sandbox.api.schemas import ColumnChange, ColumnsIn, DatasetIn
from sandbox.auth import Role
from sandbox.console.web import ConsoleRoute, FormViewerDep, ViewerDep, is_, optional, render, see_other
from sandbox.errors import ErrorCode, SandboxError

router = APIRouter(route_class=ConsoleRoute)


@router.get("/datasets")
def catalogue(request: Request, rt: RuntimeDep, viewer: ViewerDep) -> Response:
    page = datasets.list_(rt, viewer.user, 200)
    return render(request, "catalogue.html", viewer, datasets=page.items)


@router.get("/datasets/new")
def new_dataset(request: Request, viewer: ViewerDep) -> Response:
    if not is_(viewer, Role.source_unit):
        raise SandboxError(ErrorCode.forbidden)
    return render(request, "dataset_new.html", viewer, classifications=[c.value for c in Classification])


@router.post("/datasets")
async def upload(
    request: Request,
    rt: RuntimeDep,
    viewer: FormViewerDep,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form()] = "",
    privacy_unit: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    classification: Annotated[str, Form()] = "general",
    encoding: Annotated[str, Form()] = "",
) -> Response:
    """The session-authenticated twin of `POST /v1/datasets` (same helper and service). The page's
    script asks for JSON (errors too, see `ConsoleRoute`) so it can show upload progress and then go
    to the new dataset."""
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        meta = DatasetIn(
            name=name.strip(),
            privacy_unit=privacy_unit.strip(),
            description=description,
            classification=classification,  # type: ignore[arg-type]
            encoding=encoding or None,
        )
    except ValidationError:
        raise SandboxError(
            ErrorCode.invalid_request, reason="check name, privacy unit and classification"
        ) from None
    out = await run_in_threadpool(
        _from_upload, rt, viewer.user, file, lambda path: datasets.register(rt, viewer.user, meta, path)
    )
    url = f"/console/datasets/{out.id}"
    return JSONResponse({"id": out.id, "url": url}, status_code=201) if wants_json else see_other(url)


@router.get("/datasets/{dataset_id}")
def dataset_page(request: Request, rt: RuntimeDep, viewer: ViewerDep, dataset_id: str) -> Response:
    ds = datasets.get(rt, viewer.user, dataset_id)
    owner = is_(viewer, Role.source_unit) and (
        ds.owner_unit is not None and ds.owner_unit == viewer.user.unit
    )
    return render(
        request,
        "dataset.html",
        viewer,
        ds=ds,
        owner=owner,
        levels=[lv.value for lv in ColumnLevel],
        quality=getattr(ds, "quality", None),
    )


@router.get("/datasets/{dataset_id}/preview")
def synthetic_preview(request: Request, rt: RuntimeDep, viewer: ViewerDep, dataset_id: str) -> Response:
    """Synthetic rows from `sandbox.preview` (the service behind `GET /v1/datasets/{id}/preview`)."""
    ds = datasets.get(rt, viewer.user, dataset_id)
    service = optional("sandbox.preview")
    shown = service.preview(rt, viewer.user, dataset_id, 20) if service is not None else None
    return render(request, "preview.html", viewer, ds=ds, preview=shown)


@router.post("/datasets/{dataset_id}/columns")
async def set_columns(request: Request, rt: RuntimeDep, viewer: FormViewerDep, dataset_id: str) -> Response:
    """Confirm every column's level (and bounds, public keys where given) through `set_columns`."""
    form = await request.form()
    changes: dict[str, ColumnChange] = {}
    try:
        for key in form:
            if not key.startswith("level:"):
                continue
            col = key.removeprefix("level:")
            lower, upper = str(form.get(f"lower:{col}") or ""), str(form.get(f"upper:{col}") or "")
            keys = [k.strip() for k in str(form.get(f"keys:{col}") or "").splitlines() if k.strip()]
            changes[col] = ColumnChange(
                level=ColumnLevel(str(form[key])),
                lower=float(lower) if lower else None,
                upper=float(upper) if upper else None,
                public_keys=keys or None,
            )
        body = ColumnsIn(columns=changes)
    except (ValidationError, ValueError):
        raise SandboxError(ErrorCode.invalid_request, reason="check the levels and bounds") from None
    await run_in_threadpool(datasets.set_columns, rt, viewer.user, dataset_id, body)
    return see_other(f"/console/datasets/{dataset_id}")
