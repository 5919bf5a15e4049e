"""Finding and loading an MLflow model: the install hint, model URIs resolved to a local folder
by mlflow's own artifact resolution, and the pyfunc model loaded from that folder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from modeltap.errors import MissingDependencyError, ModelUriError
from modeltap.server.scoring import ScoringScriptError

__all__ = ["INSTALL_HINT", "load_pyfunc", "local_model_folder", "require_mlflow"]

INSTALL_HINT = 'serving an MLflow model needs mlflow: pip install "modeltap[mlflow]"'


def require_mlflow() -> None:
    """Raise MissingDependencyError with the install hint when mlflow cannot be imported."""
    try:
        import mlflow.pyfunc  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"{INSTALL_HINT} ({exc})") from None


def load_pyfunc(model_dir: Path) -> Any:
    """The pyfunc model saved in ``model_dir``; ScoringScriptError saying why when it cannot be."""
    require_mlflow()
    import mlflow.pyfunc

    if not (model_dir / "MLmodel").is_file():
        raise ScoringScriptError(
            f"{model_dir} is not an MLflow model folder (no MLmodel file in it); "
            "point --mlflow-model / model: at the folder mlflow.<flavor>.save_model wrote"
        )
    try:
        return mlflow.pyfunc.load_model(str(model_dir))
    except Exception as exc:
        raise ScoringScriptError(
            f"loading the MLflow model at {model_dir} failed: {type(exc).__name__}: {exc}"
        ) from exc


def local_model_folder(location: str, *, source: str = "--mlflow-model") -> Path:
    """The local folder of the MLflow model at ``location``.

    A path is taken as it is (relative to the current folder). A ``file://`` URI is its path.
    ``models:/NAME/VERSION`` (or ``@ALIAS``), ``runs:/RUN_ID/PATH`` and the other URIs mlflow
    resolves (``s3://``, ``mlflow-artifacts:/``, ...) are downloaded with
    ``mlflow.artifacts.download_artifacts`` from the tracking and registry server mlflow is set
    up for (``MLFLOW_TRACKING_URI``) into a temporary folder that this process removes when it
    exits. Raises ModelUriError, one line naming the URI and why, where that fails or the
    result is not a model folder (no MLmodel file); ``source`` is where the URI was given
    (the flag, or ``deployment.yaml: model:``), for that line.
    """
    scheme = urlparse(location).scheme
    if len(scheme) < 2:  # no scheme, or a Windows drive letter: a path
        return Path(location).expanduser().resolve()
    require_mlflow()
    import mlflow.artifacts  # binds mlflow too

    if scheme.lower() == "file":
        folder = Path(url2pathname(urlparse(location).path))
        if not folder.is_dir():
            raise ModelUriError(f"{source} {location}: no folder {folder}")
    else:
        target = tempfile.mkdtemp(prefix="modeltap-mlflow-model-")
        _remove_at_exit(target)
        try:
            folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=location,
                                                              dst_path=target))
        except Exception as exc:
            reason = " ".join(str(getattr(exc, "message", exc)).split())
            raise ModelUriError(
                f"{source} {location}: mlflow cannot resolve it "
                f"({type(exc).__name__}: {reason}); the tracking server is "
                f"{mlflow.get_tracking_uri()} (set MLFLOW_TRACKING_URI to the one that has it)"
            ) from None
    if not (folder / "MLmodel").is_file():
        raise ModelUriError(
            f"{source} {location}: {folder} has no MLmodel file; name the model's own "
            "folder (e.g. runs:/RUN_ID/model, the name it was logged under)"
        )
    return folder.resolve()


def _remove_at_exit(folder: str) -> None:
    """Remove ``folder`` when this process exits (not when a forked child does)."""
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
