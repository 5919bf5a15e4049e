"""``modeltap serve`` (a scoring script over HTTP) and ``modeltap ingest`` (a sidecar)."""

from __future__ import annotations

import argparse
import os
import sys

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
        metavar="PATH",
        help="serve this MLflow model (pyfunc) with no scoring script; needs modeltap[mlflow]",
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


def _serve(args: argparse.Namespace) -> int:
    from modeltap.errors import ConfigError, MissingDependencyError
    from modeltap.server.options import resolve_options
    from modeltap.server.process import EXIT_CONFIG, serve

    if args.need_script and not (args.deployment or args.entry_script or args.mlflow_model):
        print("modeltap serve: give -f deployment.yaml, --entry-script score.py or "
              "--mlflow-model PATH", file=sys.stderr)
        return EXIT_CONFIG
    if args.ack is not None:  # read by every worker's pipeline (config.ack_mode)
        from modeltap.config import ACK_VARIABLE

        os.environ[ACK_VARIABLE] = args.ack
    try:
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
            mlflow_model=args.mlflow_model,
            collect=args.collect,
        )
        if options.model_type == "mlflow":
            from modeltap.server.mlflow_model import require_mlflow

            require_mlflow()
    except (ConfigError, MissingDependencyError) as exc:
        print(f"modeltap: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return serve(options)
