"""Serve api-paste.ini as Nova's API does: eventlet.wsgi.server, GreenPool(1000), keep-alive.

usage: serve.py [--bind HOST:PORT]   (default 127.0.0.1:18183)
"""
import argparse
import os
import sys
import warnings

# eventlet >= 0.36 warns on import that it is in maintenance mode; Nova still runs on it.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import eventlet.wsgi  # noqa: E402  (after monkey_patch, as in Nova)
from paste.deploy import loadapp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_bind(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host.strip("[]"), int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", type=parse_bind, default=("127.0.0.1", 18183),
                        metavar="HOST:PORT")
    parser.add_argument("--pool", type=int, default=1000,
                        help="green threads in the pool (Nova's default: 1000)")
    args = parser.parse_args()

    sys.path.insert(0, HERE)  # so that the ini's 'nova_shape:...' resolves
    app = loadapp("config:api-paste.ini", name="main", relative_to=HERE)

    sock = eventlet.listen(args.bind, backlog=4096)
    with open(os.devnull, "w") as quiet:
        eventlet.wsgi.server(
            sock,
            app,
            custom_pool=eventlet.GreenPool(args.pool),
            keepalive=True,
            log=quiet,
            log_output=False,
            debug=False,
        )


if __name__ == "__main__":
    main()
