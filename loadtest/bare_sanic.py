"""The ceiling for the gateway benchmark: a bare Sanic app with one msgspec JSON endpoint.

It decodes an order-shaped body into a Struct and answers it encoded, and does nothing else
(no auth, no sequencer, no database). ``python -m loadtest.bare_sanic PORT``.
"""

import sys

import msgspec
from sanic import HTTPResponse, Request, Sanic


class Echo(msgspec.Struct):
    symbol: str
    side: str
    quantity: int
    client_order_id: str
    price: str | None = None


def make_app() -> Sanic:
    app = Sanic("bare")
    decoder = msgspec.json.Decoder(Echo)
    encode = msgspec.json.Encoder().encode

    @app.post("/v1/orders")
    async def orders(request: Request) -> HTTPResponse:
        return HTTPResponse(encode(decoder.decode(request.body)), status=201, content_type="application/json")

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        return HTTPResponse(b'{"status":"ok"}', content_type="application/json")

    return app


if __name__ == "__main__":
    make_app().run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False)
