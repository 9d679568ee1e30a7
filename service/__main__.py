"""`python -m service`: serve the model repository with uvicorn, configured from the environment."""

import logging

import uvicorn

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
