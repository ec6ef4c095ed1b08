"""/v1/datasets: registration (upload), versions, column levels, catalogue."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from sandbox import datasets, refresh, sources
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import ColumnsIn, DatasetFromSourceIn, DatasetIn, DatasetOut, Page, VersionIn
from sandbox.auth import Role, require
from sandbox.catalog.models import User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
M = TypeVar("M", DatasetIn, VersionIn, DatasetFromSourceIn)

ALLOWED_SUFFIXES = {".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet", ".xlsx"}
_UPLOAD_FORM = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "metadata"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "metadata": {"type": "string", "description": "DatasetIn as JSON"},
                    },
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/DatasetFromSourceIn"}},
        },
        "required": True,
    }
}


def _save_upload(rt: Runtime, upload: UploadFile | StarletteUpload) -> Path:
    """Copy the upload into the domain's temp directory, keeping only a safe suffix of its name."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise SandboxError(ErrorCode.unsupported_format, format=suffix or "(none)")
    dest = rt.settings.tmp_dir / f"upload-{uuid.uuid4().hex}{suffix}"
    limit = rt.settings.max_upload_mb * 1024 * 1024
    with dest.open("wb") as out:
        shutil.copyfileobj(upload.file, out, length=1 << 20)
    if dest.stat().st_size > limit:
        dest.unlink(missing_ok=True)
        raise SandboxError(ErrorCode.payload_too_large, limit_mb=rt.settings.max_upload_mb)
    return dest


def _parse_meta(model: type[M], text: str | bytes | None) -> M:
    try:
        return model.model_validate(json.loads(text or "{}"))
    except json.JSONDecodeError:
        raise SandboxError(ErrorCode.invalid_request, reason="metadata is not valid JSON") from None
    except ValidationError as e:
        fields = ", ".join(".".join(str(p) for p in err["loc"]) or "metadata" for err in e.errors())
        raise SandboxError(
            ErrorCode.invalid_request,
            reason=f"metadata fields invalid: {fields}",
            detail=[{"loc": list(err["loc"]), "type": err["type"]} for err in e.errors()],
        ) from None


def _from_upload(
    rt: Runtime, user: User, upload: UploadFile | StarletteUpload, register: Callable[[Path], DatasetOut]
) -> DatasetOut:
    """Role first (an operator's upload is never even stored), then the upload, removed whatever happens."""
    require(user, Role.source_unit)
    path = _save_upload(rt, upload)
    try:
        return register(path)
    finally:
        path.unlink(missing_ok=True)


@router.post("", status_code=201, response_model=DatasetOut, openapi_extra=_UPLOAD_FORM)
async def register(rt: RuntimeDep, user: UserDep, request: Request) -> DatasetOut:
    """A JSON body registers from a database source; a multipart form uploads a file."""
    require(user, Role.source_unit)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        source_meta = _parse_meta(DatasetFromSourceIn, await request.body())
        return await run_in_threadpool(sources.register_from_source, rt, user, source_meta)
    form = await _form(request)
    try:
        file, metadata = form.get("file"), form.get("metadata")
        if not isinstance(file, StarletteUpload) or not isinstance(metadata, str):
            raise SandboxError(
                ErrorCode.invalid_request, reason="send a multipart form with file and metadata"
            )
        meta = _parse_meta(DatasetIn, metadata)
        upload = file
        return await run_in_threadpool(
            _from_upload, rt, user, upload, lambda path: datasets.register(rt, user, meta, path)
        )
    finally:
        await form.close()


async def _form(request: Request) -> FormData:
    try:
        return await request.form()
    except (AssertionError, ValueError, KeyError, UnicodeDecodeError):  # not a readable form
        raise SandboxError(
            ErrorCode.invalid_request, reason="send a multipart form with file and metadata"
        ) from None


@router.post("/{dataset_id}/versions", status_code=201, response_model=DatasetOut)
def add_version(
    rt: RuntimeDep,
    user: UserDep,
    dataset_id: str,
    file: Annotated[UploadFile | None, File()] = None,
    metadata: Annotated[str | None, Form()] = None,
) -> DatasetOut:
    """With a file: that file is the new version. Without: the dataset's database source is re-read."""
    if file is None:
        require(user, Role.source_unit)
        return _version_from_source(rt, user, dataset_id)
    meta = _parse_meta(VersionIn, metadata)
    return _from_upload(rt, user, file, lambda path: datasets.add_version(rt, user, dataset_id, meta, path))


def _version_from_source(rt: Runtime, user: User, dataset_id: str) -> DatasetOut:
    try:
        return sources.version_from_source(rt, user, dataset_id)
    except SandboxError as e:
        if e.code.value.startswith("source_"):  # the source failed, not the request: audited like a refresh
            refresh.record(rt, dataset_id, datetime.now(UTC), e.code.value, "request", user)
        raise


@router.put("/{dataset_id}/columns", response_model=DatasetOut)
def set_columns(rt: RuntimeDep, user: UserDep, dataset_id: str, body: ColumnsIn) -> DatasetOut:
    return datasets.set_columns(rt, user, dataset_id, body)


@router.get("", response_model=Page[DatasetOut])
def list_datasets(
    rt: RuntimeDep, user: UserDep, limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None
) -> Page[DatasetOut]:
    return datasets.list_(rt, user, limit, cursor)


@router.get("/{dataset_id}", response_model=DatasetOut)
def get_dataset(rt: RuntimeDep, user: UserDep, dataset_id: str) -> DatasetOut:
    return datasets.get(rt, user, dataset_id)
