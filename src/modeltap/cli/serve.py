"""``modeltap serve`` (a scoring script over HTTP) and ``modeltap ingest`` (a sidecar)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TYPE_CHECKING

from modeltap.cli.common import EXIT_CONFIG

if TYPE_CHECKING:
    from modeltap.server.options import ServeOptions

__all__ = ["register"]



def _common(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port (default {default_port}; 0 = any)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default info)",
    )
    parser.add_argument("--data-dir", help="where captured data goes (overrides the YAML)")
    parser.add_argument(
        "--auth-key-file", help="file holding the endpoint key; clients send 'Bearer <key>'"
    )
    parser.add_argument(
        "--max-request-bytes", type=int, help="larger request bodies answer 413 (default 100 MiB)"
    )
    parser.add_argument(
        "--max-event-bytes",
        type=int,
        help="larger payloads are stored out of line (default 4 MiB)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--ack",
        choices=["queue", "spool"],
        help="answer once the records are queued (default) or once they are in the spool "
        "(used when the deployment YAML sets no ack)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` and ``ingest`` commands."""
    serve = subparsers.add_parser(
        "serve",
        help="serve a scoring script over HTTP and capture its traffic",
        description="Serve score.py (init()/run()) on /score with payload logging and metrics.",
    )
    serve.add_argument("-f", "--file", dest="deployment", help="deployment YAML")
    serve.add_argument("--entry-script", help="the scoring script (overrides the YAML's)")
    serve.add_argument("--model-dir", help="model folder (AZUREML_MODEL_DIR, MODELTAP_MODEL_DIR)")
    serve.add_argument(
        "--mlflow-model",
        metavar="PATH|URI",
        help="serve this MLflow model (pyfunc) with no scoring script: a folder, or a "
        "models:/NAME/VERSION, runs:/RUN_ID/PATH or file:// URI; needs modeltap[mlflow]",
    )
    serve.add_argument(
        "--collect",
        action="store_true",
        help="with --mlflow-model: collect model_inputs and model_outputs",
    )
    _common(serve, 5001)
    serve.add_argument(
        "--threads",
        type=int,
        help="concurrent run() calls per worker (default: the YAML's request_settings."
        "max_concurrent_requests_per_instance shared by the workers, else one at a time: on "
        "the event loop's thread while run() takes less than the GIL's switch interval, 5 ms, "
        "else on a thread of its own); N > 0: always a pool of N threads; 0: always on the "
        "event loop's thread, which then answers nothing else (health, metrics, ingest) while "
        "run() runs",
    )
    serve.set_defaults(handler=_serve, need_script=True)
    ingest = subparsers.add_parser(
        "ingest",
        help="accept captures from other collectors (azureml-ai-monitoring, CloudEvents)",
        description="A standalone ingest server: POST /modeldata/log and POST /events.",
    )
    ingest.add_argument("-f", "--file", dest="deployment", help="deployment YAML")
    _common(ingest, 50011)
    ingest.set_defaults(handler=_serve, need_script=False, entry_script=None, model_dir=None,
                        mlflow_model=None, collect=False, threads=None)


def _say(message: str) -> None:
    print(f"modeltap: {message}", file=sys.stderr, flush=True)


def _server_modules(command: str) -> bool:
    """Whether the server extra is importable; else its install hint is printed."""
    from modeltap.cli.extras import install_hint, require_extra
    from modeltap.errors import MissingDependencyError

    try:
        require_extra("server", command)
        # fails here, not mid-start, if a module of the extra cannot be imported
        for module in ("modeltap.server.options", "modeltap.server.process"):
            importlib.import_module(module)
    except MissingDependencyError as exc:
        print(exc, file=sys.stderr)  # "modeltap serve needs the server extra ...: pip install"
        return False
    except ModuleNotFoundError as exc:
        _say(f"{command} cannot start: {exc}: {install_hint('server')}")
        return False
    return True


def _serve(args: argparse.Namespace) -> int:
    command = "modeltap serve" if args.need_script else "modeltap ingest"
    if not _server_modules(command):
        return EXIT_CONFIG
    from modeltap.errors import ConfigError, MissingDependencyError, ModelUriError
    from modeltap.server.options import resolve_options
    from modeltap.server.process import serve

    if args.need_script and not (args.deployment or args.entry_script or args.mlflow_model):
        print("modeltap serve: give -f deployment.yaml, --entry-script score.py or "
              "--mlflow-model PATH", file=sys.stderr)
        return EXIT_CONFIG
    if args.ack is not None:  # read by every worker's pipeline (config.ack_mode)
        from modeltap.config import ACK_VARIABLE

        os.environ[ACK_VARIABLE] = args.ack
    try:
        mlflow_model = args.mlflow_model
        if mlflow_model is not None:  # a models:/, runs:/ or file:// URI becomes a local folder
            from modeltap.server.mlflow_model import local_model_folder

            mlflow_model = str(local_model_folder(mlflow_model))
        options = resolve_options(
            deployment_file=args.deployment,
            entry_script=args.entry_script,
            model_dir=args.model_dir,
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            workers=args.workers,
            threads=args.threads,
            log_level=args.log_level,
            auth_key_file=args.auth_key_file,
            max_request_bytes=args.max_request_bytes,
            max_event_bytes=args.max_event_bytes,
            access_log=args.access_log,
            need_script=args.need_script,
            mlflow_model=mlflow_model,
            collect=args.collect,
        )
        if options.model_type == "mlflow":
            from modeltap.server.mlflow_model import require_mlflow

            require_mlflow()
    except ModelUriError as exc:
        print(f"modeltap: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, MissingDependencyError) as exc:
        print(f"modeltap: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _announce_collections(options, mlflow_without_collect=not args.collect)
    return serve(options)


def _announce_collections(options: ServeOptions, *, mlflow_without_collect: bool) -> None:
    """Which collections are on, where their data goes, and where the writer runs."""
    from modeltap.server.summary import startup_lines

    kind = "ingest"
    if options.model_type == "mlflow":
        kind = "mlflow"
    elif options.entry_script is not None:
        kind = "scoring"
    for line in startup_lines(
        options.settings,
        kind=kind,
        environment=options.environment,
        mlflow_without_collect=kind == "mlflow" and mlflow_without_collect,
    ):
        _say(line)
