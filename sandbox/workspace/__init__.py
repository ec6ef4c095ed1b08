"""The workspace: the only code that opens raw rows. See runner.py for how a job is isolated."""

from sandbox.workspace.runner import Limits, WorkspaceRequest, WorkspaceResult, run
from sandbox.workspace.views import ViewSpec

__all__ = ["Limits", "ViewSpec", "WorkspaceRequest", "WorkspaceResult", "run"]
