"""The baseline: a bare aiohttp app that answers a constant 302 and a constant 200.

It does what the tracking server's hot paths must do at the least (route, answer), so the
ratio affbot/bare measures what affbot adds: the link lookup, the click id, the visitor
hash and the buffered click, or a whole recorded conversion.
"""

from __future__ import annotations

import argparse

from aiohttp import web

LOCATION = "https://shop.example/landing?click_id=00000000000000000000000000000000&ref=bench"


async def redirect(_: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": LOCATION, "Cache-Control": "no-store"})


async def postback(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/r/{code}", redirect)
    app.router.add_route("*", "/postback", postback)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
