"""`python -m service`: serve the model repository with uvicorn, configured from the environment.
`python -m service check [REPOSITORY]`: what the server would say of a repository, without serving it.
`python -m service --help`: usage and every setting (`usage.py`).

This process reads the settings for itself (logging, ports, workers); each worker builds its app with
`service.app:create_app`, which reads them again where the app is assembled.
"""

import functools
import logging.config
import sys

import uvicorn

from ..settings import get_settings
from ..telemetry.logging_config import log_config
from .http_protocol import ClientLimits, ServiceHttpProtocol
from .lifecycle import exit_quietly_on_terminate
from .usage import answer_help
from .workers import check_port_free, run_workers, shared_folder


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
    limits = ClientLimits(
        settings.max_header_bytes, settings.header_timeout_seconds, settings.body_chunk_timeout_seconds
    )
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # ACCESS_LOG switches service.http.front_door's line, which has the request id and model
        log_config=logging_config,
        log_level=settings.log_level,
        loop="uvloop",
        # httptools, one write per response, bounded clients, JSON errors (a partial: it pickles to the workers)
        http=functools.partial(ServiceHttpProtocol, limits=limits),
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    with shared_folder(settings):
        if settings.workers > 1:
            run_workers(config)
        else:
            uvicorn.Server(config).run()
