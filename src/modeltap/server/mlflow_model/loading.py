"""Finding and loading an MLflow model: the install hint, and the pyfunc model from its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeltap.errors import MissingDependencyError
from modeltap.server.scoring import ScoringScriptError

__all__ = ["INSTALL_HINT", "load_pyfunc", "require_mlflow"]

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
