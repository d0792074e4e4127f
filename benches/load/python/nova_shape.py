"""WSGI pieces for api-paste.ini: two JSON apps and a filter that does nothing.

The filter is a real WSGI middleware object (one extra call per hop), which is
what an empty Nova filter costs; the apps answer with a fixed JSON document.
"""

_JSON = "application/json"


class PassThrough:
    """A filter that hands every request to the next application unchanged."""

    __slots__ = ("next_app",)

    def __init__(self, next_app):
        self.next_app = next_app

    def __call__(self, environ, start_response):
        return self.next_app(environ, start_response)


def pass_through_factory(global_conf, **local_conf):
    """paste.filter_factory: returns the callable that wraps the next app."""
    return PassThrough


class JsonDocument:
    """An application that always answers 200 with the same JSON bytes."""

    def __init__(self, body):
        self.body = body
        self.headers = [("Content-Type", _JSON), ("Content-Length", str(len(body)))]

    def __call__(self, environ, start_response):
        start_response("200 OK", list(self.headers))
        return [self.body]


def versions_factory(global_conf, **local_conf):
    """paste.app_factory for '/'."""
    return JsonDocument(b'{"versions": []}')


def servers_factory(global_conf, **local_conf):
    """paste.app_factory for '/v2.1' (behind the filters)."""
    return JsonDocument(b'{"servers": []}')
