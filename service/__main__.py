"""`python -m service`: serve the model repository with uvicorn, configured from the environment."""

import logging.config

import uvicorn

from .lifecycle import exit_quietly_on_terminate
from .logging_config import log_config
from .settings import get_settings
from .uvicorn_protocol import ServiceHttpProtocol
from .worker_group import shared_folder


def main() -> None:
    settings = get_settings()
    exit_quietly_on_terminate()
    logging_config = log_config(settings.log_format, settings.log_level)
    logging.config.dictConfig(logging_config)
    with shared_folder(settings):
        uvicorn.run(
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


if __name__ == "__main__":
    main()
