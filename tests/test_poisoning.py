"""The held-out guard, end to end over /ws: wrong labels in bulk cannot wreck the model.

One client teaches 300 drawings with deliberately wrong labels (rate limits off, the
default ``GUARD_DROP`` of 2 points, and the shared model's other defences off so that
this test sees the held-out guard alone; test_attacks has them all).  Held-out
accuracy must end within 2 points of where it started, every teach the guard rolled
back must be kept aside (not in /api/samples.npz, not in the replay buffer) and
answered with a ``rejected`` error that says why, and honest teaching afterwards
must still make version v+1.

What the guard does not do, and the test therefore does not claim: a wrong label that
costs less than both margins (``GUARD_STEP`` per teach, ``GUARD_DROP`` in total) is
accepted (about a third of them here), stays in the replay buffer and data set, and the
model may end near the guard's edge.  From there an honest teach that costs a single
held-out digit is refused as well, so the test asks that most of ten honest teaches are
accepted, not all.  The learner is seeded (``SEED``) and the guard's "best recent
version" does not depend on when old versions were pruned, so every run takes the same
path and makes the same counts.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from support.drawings import draw_digit
from support.servers import http_get as get

pytestmark = pytest.mark.slow

POISON_TEACHES = 300
WINDOW = 10
"""Teaches sent in one write (the inbox holds 64 messages; a window is 20)."""
HONEST_TEACHES = 10
GUARD_POINTS = 2.0


def stored_samples(url: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (N, 28, 28), labels (N,)) of /api/samples.npz."""
    with np.load(io.BytesIO(get(url + "/api/samples.npz"))) as data:
        return data["images"], data["labels"]


def varied_digit(digit: int, rng: np.random.Generator) -> list[list[list[float]]]:
    """Return ``draw_digit(digit)`` under a small random rotation, shear, scale and jitter.

    Every drawing is then a different image, so a drawing can be found again by its pixels.
    """
    angle = rng.uniform(-0.25, 0.25)
    shear = rng.uniform(-0.2, 0.2)
    scale = rng.uniform(0.8, 1.2, size=2)
    transform = np.array([[np.cos(angle), -np.sin(angle)],
                          [np.sin(angle), np.cos(angle)]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    strokes = []
    for stroke in draw_digit(digit):
        points = np.asarray(stroke) * scale @ transform.T + rng.normal(0, 1.5, (len(stroke), 2))
        strokes.append(points.round(2).tolist())
    return strokes


def pixels(prediction: dict) -> bytes:
    """Return the 784 bytes the network saw, from a prediction message."""
    return base64.b64decode(prediction["image"])


def test_300_wrong_labels_leave_heldout_within_the_guard(make_live_server, ws_connect):
    # the default held-out guard of 2 points, alone
    server = make_live_server(SEED=0, RATE_LIMITS=False, AGREE_SOURCES=1, GUARD_CLASS_DROP=100,
                              GUARD_UNSURE_DROP=100, GUARD_ECE_RISE=100)
    hub = server.app.extensions["inkling"].hub
    start = get(server.url + "/api/model")
    heldout0, v0 = start["accuracy"]["heldout"], start["version"]
    if heldout0 is None or heldout0 < 0.9:
        pytest.skip(f"the seed model is not trained (held-out {heldout0}): nothing to guard")

    ws = ws_connect(server, timeout=120)
    assert ws.recv()["type"] == "hello"
    rng = np.random.default_rng(6)
    accepted: list[tuple[bytes, int, dict]] = []  # (pixels, label, taught message)
    rejected: list[tuple[bytes, int, dict]] = []
    for first in range(0, POISON_TEACHES, WINDOW):
        # A window of (ink, teach) pairs in one write: the reader snapshots the ink for each
        # teach as it reads it, so pairs cannot mix, and the learner never waits for us.
        burst, wrong_labels = [], {}
        for k in range(first, min(first + WINDOW, POISON_TEACHES)):
            digit = k % 10
            wrong = (digit + 3) % 10  # a consistent lie: every 0 is a 3, every 1 a 4, ...
            burst += [{"type": "ink", "strokes": varied_digit(digit, rng), "seq": 2 * k + 1},
                      {"type": "teach", "label": wrong, "seq": 2 * k + 2}]
            wrong_labels[2 * k + 2] = wrong
        ws.send_burst(burst)
        replies = {}
        while len(replies) < len(burst):
            m = ws.recv()
            assert m["type"] in ("prediction", "taught", "error"), m
            replies[m["seq"]] = m
        for teach_seq, wrong in wrong_labels.items():
            prediction, reply = replies[teach_seq - 1], replies[teach_seq]
            assert prediction["type"] == "prediction", prediction
            if reply["type"] == "taught":
                assert reply["label"] == wrong
                accepted.append((pixels(prediction), wrong, reply))
            else:
                # The teacher is told why, in a sentence, with the numbers of the decision.
                assert reply["type"] == "error" and reply["code"] == "rejected", reply
                assert "aside" in reply["message"] and "held-out" in reply["message"]
                # which guard fired: the total drop (GUARD_POINTS) or one step's cost
                assert (f"{GUARD_POINTS:g} points" in reply["message"]
                        or "in one step" in reply["message"]), reply["message"]
                assert reply["label"] == wrong
                assert reply["model_version"] == v0 + len(accepted)
                rejected.append((pixels(prediction), wrong, reply))

    assert len(accepted) + len(rejected) == POISON_TEACHES
    assert rejected, f"the guard never fired in {POISON_TEACHES} wrong teaches"

    # Held-out accuracy: within the guard's 2 points of the start, after and all along.
    after = get(server.url + "/api/model")
    assert abs(after["accuracy"]["heldout"] - heldout0) <= GUARD_POINTS / 100 + 1e-9
    assert all(m["accuracy"]["heldout"] >= heldout0 - GUARD_POINTS / 100 - 1e-9
               for _, _, m in accepted)
    # Only accepted teaches made versions, one each.
    assert after["version"] == v0 + len(accepted)
    assert [m["model_version"] for _, _, m in accepted] == \
        list(range(v0 + 1, v0 + 1 + len(accepted)))

    # The rolled-back drawings are kept aside: the user's data set holds exactly the
    # accepted ones (same pixels, same labels, in order) and none of the rejected.
    images, labels = stored_samples(server.url)
    assert after["samples"] == len(accepted) == len(labels)
    assert [img.tobytes() for img in images] == [p for p, _, _ in accepted]
    assert labels.tolist() == [label for _, label, _ in accepted]
    assert not {p for p, _, _ in rejected} & {img.tobytes() for img in images}
    # ... and out of the replay buffer, which draws only accepted drawings.
    store = hub.store
    assert store.counts() == {"accepted": len(accepted), "pending": 0, "refused": len(rejected),
                              "quarantined": 0}
    refused = store.drawings(status="refused")
    assert all(d["version"] is None and "aside" in d["reason"] for d in refused)

    # Honest teaching still works: correct labels are accepted, each as version v+1.
    # The poisoner may leave the model near the guard's edge (best - 2 points), where an
    # honest teach that costs even one held-out digit is refused; the step guard keeps
    # the costliest wrong labels out, so nearly all honest teaches pass (9-10 of 10 seen).
    version, samples = after["version"], after["samples"]
    honest_accepted = 0
    for k in range(HONEST_TEACHES):
        digit = k % 10
        ws.request({"type": "ink", "strokes": varied_digit(digit, rng)})
        reply = ws.request({"type": "teach", "label": digit})
        if reply["type"] == "taught":
            assert reply["model_version"] == version + 1, reply
            assert reply["samples"] == samples + 1
            version, samples = version + 1, samples + 1
            honest_accepted += 1
        else:
            assert reply["code"] == "rejected" and "aside" in reply["message"], reply
            assert reply["model_version"] == version
    print(f"poisoning: {len(accepted)} wrong accepted, {len(rejected)} rejected; "
          f"honest accepted {honest_accepted}/{HONEST_TEACHES}; "
          f"heldout {heldout0:.3f} -> {after['accuracy']['heldout']:.3f}")
    assert honest_accepted >= 7, f"after the poisoning only {honest_accepted} honest teaches passed"
    final = get(server.url + "/api/model")
    assert final["version"] == version and final["samples"] == samples
    assert final["accuracy"]["heldout"] >= heldout0 - GUARD_POINTS / 100 - 1e-9
