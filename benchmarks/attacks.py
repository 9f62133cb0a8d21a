"""Attacks on the shared model over the wire, and honest teaching after each.

    python benchmarks/attacks.py [--seconds 40] [--addresses 10] [--connections 2]
                                 [--prefixes 1,10] [--attacks sevens,backdoor,...]

For each attack of ``support.attacks`` (drawn 7s taught as 1, an X in a corner taught
as 3, scribbles taught as 8, random wrong labels) and each ``--prefixes`` count, on a
fresh instance served by the README's gunicorn with its default settings (rate limits,
budgets, approval and guard on) and ``INKLING_TRUST=public`` (on loopback the default
would trust every teach as the owner's), bound to loopback:

1. ``--addresses`` loopback source addresses, spread over that many /24 network prefixes
   (one prefix: 127.0.0.2, 127.0.0.3, ...; ten: 127.0.0.2, 127.1.0.2, ... 127.9.0.2), with
   ``--connections`` sockets each teach the attack's drawings as fast as the server
   lets them for ``--seconds``, honouring ``rate_limited`` with a 0.2 s back-off and
   taking a fresh writer id every 20 teaches (so per-writer budgets do not bind);
2. the newest shared version is read from the instance's database and measured on
   fresh drawings: the drawn 7s read as 7, the X-marked digits read as 3 (the
   backdoor's success), the scribbles answered "not sure", and held-out MNIST
   (the 10,000 test digits when ../shared/data/mnist is there, else the shipped 1,000);
3. an honest writer from a new address (another /24) teaches ``--honest`` drawings of
   the world's styles with their right labels: how many the shared model accepted, and
   the accuracy on fresh drawings of those styles before and after.

In one prefix the attackers are one network source, so agreement across sources
(``INKLING_AGREE_SOURCES`` > 0) never comes and the prefix's budget binds; in ten they
are ten sources, which agree among themselves, and each has a budget of its own: what
holds then is what does not count networks (by default, the operator's approval).

Aims (issues 13 and 21): the targeted class within 1 point, backdoor success <= 5%, the
non-digit "not sure" share within 3 points, held-out within 0.5 point; after each attack
the honest writer's teaches accepted >= 18 of 20 and the honest styles' accuracy not
lower.  Bounded: every phase has a deadline, everything is loopback.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from collections import Counter

import common
import numpy as np  # noqa: E402  (after common: BLAS threads are pinned first)
from support import attacks  # noqa: E402
from support.mnist_files import MNIST_DIR  # noqa: E402
from support.servers import Gunicorn  # noqa: E402
from support.wsclient import WSClient  # noqa: E402

from network.ink.pixels import to_float  # noqa: E402
from network.ink.render import render  # noqa: E402
from network.nn.model import Sequential  # noqa: E402
from network.training import styles  # noqa: E402
from network.training.mnist import load_mnist, load_subset  # noqa: E402
from webapp.store.sqlite import SQLiteStore  # noqa: E402

BACK_OFF = 0.2
"""Seconds an attacker waits after ``rate_limited`` (it honours the server's limits)."""

NEW_WRITER_EVERY = 20


def attack_loop(url: str, source: str, drawings: list, deadline: float,
                counts: Counter, lock: threading.Lock, seed: int) -> None:
    """One attacker socket: teach drawings until the deadline; count what came back."""
    rng = np.random.default_rng(seed)
    taught = 0
    ws = None
    try:
        while time.monotonic() < deadline:
            if ws is None or taught % NEW_WRITER_EVERY == 0:
                if ws is not None:
                    ws.close()
                ws = WSClient(f"{url}?writer=attacker-{secrets.token_hex(8)}", timeout=30,
                              source=source)
                ws.recv_type("hello")
            strokes, label = drawings[int(rng.integers(len(drawings)))]
            ws.request({"type": "ink", "strokes": attacks.as_lists(strokes)})
            reply = ws.request({"type": "teach", "label": label})
            taught += 1
            outcome = (reply["shared"]["status"] if reply["type"] == "taught"
                       else reply.get("code", "?"))
            with lock:
                counts[outcome] += 1
            if outcome in ("rate_limited", "unavailable"):
                time.sleep(BACK_OFF)
    finally:
        if ws is not None:
            ws.close()


def newest_model(instance: str) -> Sequential:
    with SQLiteStore.in_folder(instance) as store:
        return Sequential.from_bytes(store.load_version().weights)


def honest_phase(url: str, drawings: list, deadline: float) -> Counter:
    """One new writer from a new /24 teaches the drawings with their right labels."""
    counts: Counter = Counter()
    ws = WSClient(f"{url}?writer=honest-{secrets.token_hex(8)}", timeout=30,
                  source="127.0.1.2")
    try:
        ws.recv_type("hello")
        for strokes, label in drawings:
            if time.monotonic() > deadline:
                break
            ws.request({"type": "ink", "strokes": attacks.as_lists(strokes)})
            reply = ws.request({"type": "teach", "label": label})
            counts[reply["shared"]["status"] if reply["type"] == "taught"
                   else reply.get("code", "?")] += 1
    finally:
        ws.close()
    return counts


def style_accuracy(model: Sequential, images: np.ndarray, labels: np.ndarray) -> float:
    return float((model.predict_proba(images).argmax(1) == labels).mean())


def main(argv: list[str] | None = None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--addresses", type=int, default=10)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--prefixes", default="1,10",
                        help="how many /24 network prefixes the attackers' addresses span")
    parser.add_argument("--attacks", default=",".join(attacks.ATTACKS))
    parser.add_argument("--honest", type=int, default=20)
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    print(common.header())

    rng = np.random.default_rng(args.seed)
    probe = attacks.probes(args.probes, rng)
    if MNIST_DIR.exists():
        heldout_x, heldout_y = load_mnist(MNIST_DIR, "test")
        heldout_x, where = to_float(heldout_x), "MNIST test set (10,000)"
    else:
        subset = load_subset()
        heldout_x, heldout_y, where = (to_float(subset.heldout_x), subset.heldout_y,
                                       "the shipped held-out subset (1,000)")
    honest_styles = list(styles.STYLES)
    made = styles.styled_drawings(args.probes, rng, styles=honest_styles)
    honest_x = np.stack([render(d.strokes) for d in made])
    honest_y = np.array([d.label for d in made])
    print(f"probes: {args.probes} of each kind; held out: {where}; honest writer: "
          f"{args.honest} drawings of the {len(honest_styles)} styles, right labels\n")

    results = []
    for prefixes in [int(p) for p in args.prefixes.split(",")]:
        for index, name in enumerate(args.attacks.split(",")):
            attack = attacks.ATTACKS[name]
            pool = attack.make(600, np.random.default_rng([args.seed, prefixes, index]))
            honest = [(d.strokes, d.label) for d in styles.styled_drawings(
                args.honest, np.random.default_rng([args.seed, prefixes, index, 1]),
                styles=honest_styles)]
            with tempfile.TemporaryDirectory(prefix="inkling-attack-") as folder:
                instance = os.path.join(folder, "instance")
                server = Gunicorn(instance, workers=2, INKLING_TRUST="public").wait_ready()
                try:
                    url = f"ws://127.0.0.1:{server.port}/ws"
                    before_model = newest_model(instance)
                    before = attacks.effects(before_model, probe, heldout_x, heldout_y)
                    counts: Counter = Counter()
                    lock = threading.Lock()
                    deadline = time.monotonic() + args.seconds
                    threads = [threading.Thread(
                        target=attack_loop, daemon=True,
                        args=(url, f"127.{a % prefixes}.0.{2 + a // prefixes}", pool,
                              deadline, counts, lock, 1000 * a + c))
                        for a in range(args.addresses) for c in range(args.connections)]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join(args.seconds + 120)
                    attacked = newest_model(instance)
                    after = attacks.effects(attacked, probe, heldout_x, heldout_y)
                    honest_before = style_accuracy(attacked, honest_x, honest_y)
                    honest_counts = honest_phase(url, honest, time.monotonic() + 300)
                    honest_after = style_accuracy(newest_model(instance), honest_x, honest_y)
                finally:
                    server.stop()
            row = {"prefixes": prefixes, "attack": name, "counts": dict(counts),
                   "before": before, "after": after,
                   "honest": {"counts": dict(honest_counts), "before": honest_before,
                              "after": honest_after}}
            results.append(row)
            report(row, attack)

    print(f"\nat the end: {common.header()}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


def report(row: dict, attack: attacks.Attack) -> None:
    before, after, counts = row["before"], row["after"], row["counts"]
    total = sum(counts.values())
    print(f"{attack.description}, from {row['prefixes']} network prefix(es): {total} teaches "
          f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    for key, label in (("sevens_read_as_7", "drawn 7s read as 7"),
                       ("backdoor_success", "backdoor success (X-marked read as 3)"),
                       ("scribbles_not_sure", "scribbles answered not sure"),
                       ("heldout", "held-out accuracy")):
        change = 100 * (after[key] - before[key])
        print(f"    {label:<40} {100 * before[key]:6.2f}% -> {100 * after[key]:6.2f}%"
              f"   ({change:+.2f} points)")
    honest = row["honest"]
    accepted = honest["counts"].get("accepted", 0)
    print(f"    honest writer afterwards: {accepted} of {sum(honest['counts'].values())} "
          f"accepted ({dict(honest['counts'])}); honest styles "
          f"{100 * honest['before']:.2f}% -> {100 * honest['after']:.2f}%")


if __name__ == "__main__":
    raise SystemExit(main())
