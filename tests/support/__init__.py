"""Helpers shared by the tests and the benchmarks (import as ``support.<module>``).

- ``wsclient``: the one WebSocket client (the ``websockets`` library, sync and asyncio,
  and the app's JSON messages);
- ``servers``: live werkzeug servers and the README's gunicorn;
- ``drawings``: simple strokes for tests that need ink;
- ``together``: many clients at once, one thread each, failures reported back;
- ``mnist_files``: tiny IDX folders, and where the real MNIST lives;
- ``png``: a small PNG writer for the benchmarks' image grids.
"""
