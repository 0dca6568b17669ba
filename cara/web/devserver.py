"""`make run`'s server: werkzeug's development server, without versions in its Server header.

`flask run` answers with "Server: Werkzeug/3.1 Python/3.11" and cannot be given another
request handler; this runs the same server with one that says "Server: cara".
"""

import argparse

from werkzeug.serving import WSGIRequestHandler, run_simple


class DevRequestHandler(WSGIRequestHandler):
    def version_string(self) -> str:
        return "cara"


def main(argv: list[str] | None = None) -> None:
    from cara import create_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    run_simple(args.host, args.port, create_app(), request_handler=DevRequestHandler, threaded=True)


if __name__ == "__main__":
    main()
