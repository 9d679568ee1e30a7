"""The one exception type the exporter raises for problems the user must fix."""


class ExportError(Exception):
    """A model or an argument that cannot be exported as asked.

    The message is written for the person running the export: it says what is wrong
    and what to do. The CLI prints it without a traceback and exits with status 2.
    """


def reading_problem(exc: Exception) -> str:
    """Why a file could not be read, in words: the system's reason without its error number, or the library's."""
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
