"""The GeoReport v2 error: what every Open311 module raises and the routes answer with."""


class Open311Error(Exception):
    """A request GeoReport v2 answers with an error list: HTTP status and a description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def error_list(error: Open311Error) -> list[dict]:
    """The GeoReport v2 error body."""
    return [{"code": error.status, "description": error.description}]
