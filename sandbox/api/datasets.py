"""/v1/datasets: registration (upload), versions, column levels, catalogue."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import ValidationError

from sandbox import datasets
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import ColumnsIn, DatasetIn, DatasetOut, Page, VersionIn
from sandbox.auth import Role, require
from sandbox.catalog.models import User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

ALLOWED_SUFFIXES = {".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet"}


def _save_upload(rt: Runtime, upload: UploadFile) -> Path:
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


def _parse_meta(model: type[DatasetIn] | type[VersionIn], text: str | None) -> DatasetIn | VersionIn:
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
    rt: Runtime, user: User, upload: UploadFile, register: Callable[[Path], DatasetOut]
) -> DatasetOut:
    """Role first (an operator's upload is never even stored), then the upload, removed whatever happens."""
    require(user, Role.source_unit)
    path = _save_upload(rt, upload)
    try:
        return register(path)
    finally:
        path.unlink(missing_ok=True)


@router.post("", status_code=201, response_model=DatasetOut)
def register(
    rt: RuntimeDep, user: UserDep, file: Annotated[UploadFile, File()], metadata: Annotated[str, Form()]
) -> DatasetOut:
    meta = _parse_meta(DatasetIn, metadata)
    assert isinstance(meta, DatasetIn)
    return _from_upload(rt, user, file, lambda path: datasets.register(rt, user, meta, path))


@router.post("/{dataset_id}/versions", status_code=201, response_model=DatasetOut)
def add_version(
    rt: RuntimeDep,
    user: UserDep,
    dataset_id: str,
    file: Annotated[UploadFile, File()],
    metadata: Annotated[str | None, Form()] = None,
) -> DatasetOut:
    meta = _parse_meta(VersionIn, metadata)
    assert isinstance(meta, VersionIn)
    return _from_upload(rt, user, file, lambda path: datasets.add_version(rt, user, dataset_id, meta, path))


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
