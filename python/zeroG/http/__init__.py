"""zeroG's REST API over Tornado.

- ``app``: ``Server`` and ``make_app``, the application;
- ``routes``: ``default_routes()``, the one list of routes, and ``GET /openapi.json``;
- ``base``: what every handler shares (JSON errors, CORS, the token, the body limit);
- one module per group of routes: ``create`` (``POST /job/{type}``), ``read`` (the original's
  progress, info, data and dump), ``listing`` (``GET /jobs``), ``cancel``, ``watch`` (SSE),
  ``metrics`` (Prometheus) and ``system`` (queues, health);
- ``openapi``, ``openapi_parts`` and ``field_schema``: the OpenAPI document and what it is made of.

Each handler carries its own OpenAPI description. ``zerog-server`` is ``zeroG.cli.server``.
"""
