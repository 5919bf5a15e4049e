"""Start-up failures stop the server with a clear message and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

from tests.server.conftest import SCRIPTS, launch, write_deployment


def test_init_failure_exits_non_zero_with_traceback(server_dir: Path) -> None:
    """init() raising stops start-up: exit 3, the script's traceback and error in the output."""
    process = launch(server_dir, "serve", "--entry-script", str(SCRIPTS / "score_bad_init.py"))
    assert process.wait_exit() == 3
    log = process.log()
    assert "init() of the scoring script" in log
    assert "Traceback (most recent call last)" in log
    assert "load_model()" in log
    assert "FileNotFoundError: model.pkl is missing from the model folder" in log


def test_init_failure_with_workers_stops_everything(server_dir: Path) -> None:
    """With --workers 2 a failing init() also ends the server with a non-zero exit."""
    process = launch(
        server_dir, "serve", "--entry-script", str(SCRIPTS / "score_bad_init.py"),
        "--workers", "2",
    )
    assert process.wait_exit() != 0
    assert "model.pkl is missing" in process.log()


def test_missing_run_is_named(server_dir: Path) -> None:
    """A script without run() is refused with a message that names what is missing."""
    process = launch(server_dir, "serve", "--entry-script", str(SCRIPTS / "score_no_run.py"))
    assert process.wait_exit() != 0
    assert "does not define run()" in process.log()


def test_secret_in_capture_headers_is_refused(server_dir: Path) -> None:
    """Listing Authorization in capture_headers fails start-up and says why."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector={"request_logging": {"capture_headers": ["x-tenant", "Authorization"]}},
    )
    process = launch(server_dir, "serve", "-f", str(deployment))
    assert process.wait_exit() == 2
    log = process.log()
    assert "'Authorization'" in log
    assert "carry credentials" in log


def test_missing_script_file_is_a_config_error(server_dir: Path) -> None:
    """A scoring script path that does not exist exits 2 naming the path."""
    process = launch(server_dir, "serve", "--entry-script", str(server_dir / "nope.py"))
    assert process.wait_exit() == 2
    assert "nope.py not found" in process.log()


def test_invalid_yaml_value_names_the_file_and_key(server_dir: Path) -> None:
    """A bad data_collector value exits 2 with the file and the key in the message."""
    deployment = write_deployment(
        server_dir,
        code_configuration={"code": str(SCRIPTS), "scoring_script": "score_echo.py"},
        data_collector={"sampling_rate": 2},
    )
    process = launch(server_dir, "serve", "-f", str(deployment))
    assert process.wait_exit() == 2
    log = process.log()
    assert str(deployment) in log
    assert "data_collector.sampling_rate" in log
