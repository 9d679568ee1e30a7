"""`python -m service`: serve the model repository with uvicorn, configured from the environment.
`python -m service check [REPOSITORY]`: what the server would say of a repository, without serving it.
`python -m service --help`: usage and every setting."""

import logging.config
import sys

import uvicorn

from .grpc_port import check_port_free
from .lifecycle import exit_quietly_on_terminate
from .logging_config import log_config
from .settings import get_settings
from .supervisor import run_workers
from .usage import answer_help
from .uvicorn_protocol import ServiceHttpProtocol
from .worker_group import shared_folder


def main() -> None:
    answer_help(sys.argv[1:])
    settings = get_settings()
    if sys.argv[1:2] == ["check"]:
        from .check import main as check

        logging.basicConfig(level=logging.ERROR, format="%(message)s")  # the report says it all
        raise SystemExit(check(sys.argv[2:], settings.model_repository))
    exit_quietly_on_terminate()
    logging_config = log_config(settings.log_format, settings.log_level)
    logging.config.dictConfig(logging_config)
    check_port_free(settings.host, settings.grpc_port)
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # ACCESS_LOG switches service.middleware's line, which has the request id and model
        log_config=logging_config,
        log_level=settings.log_level,
        loop="uvloop",
        http=ServiceHttpProtocol,  # httptools, one write per response, bounded clients, JSON errors
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    with shared_folder(settings):
        if settings.workers > 1:
            run_workers(config)
        else:
            uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
