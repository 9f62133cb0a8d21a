"""The shared model's path of a teach: what it takes from one drawing, and when.

Everyone's model must only take in what is likely true and useful to everyone, whatever
one person or a crowd of addresses sends.  ``shared_step`` decides, in this order:

0. *Trust* (``webapp.trust``): the owner's teaches (``INKLING_TRUST=local``) skip
   budgets and agreement, a teach-token holder's skip agreement and spend the token's
   own budget; both still go through the learner and the guard (3.).  Everything below
   about approval and budgets is for the public.
1. *Approval*: the shared model takes a drawing at once only when it already reads it
   as the taught label at least ``agree_confidence`` sure (0.9).  Any other teach, a
   contradiction or a right label the model is unsure of, waits (``pending``) until an
   operator approves it (``inkling drawings --approve``, which teaches it as the
   owner would), or, with ``agree_sources`` > 0, until that many distinct network
   prefixes taught the same (shared reading, label) within ``agree_hours``.  Measured
   with ``benchmarks/attacks.py``: agreement holds while attackers share a prefix, but
   ten prefixes (a few cloud machines) agreed among themselves and planted a backdoor
   (61% success); counting networks cannot tell ten attackers from ten honest people,
   so by default no count of them is enough.  Before that, letting corrections of
   answers between 50% and 90% flow at once let one /24 plant a backdoor (34%), and
   letting unsure right labels through grew one a half-read drawing at a time (8%).
2. *Budgets*: a teach that may now reach everyone's model locks it (so teaches that
   only change their writer's model never wait for each other), then the writer, the
   address and its network prefix each have a token bucket of shared teaches
   (``per_hour``, refilled slowly); a spent one refuses, so many addresses buy time,
   not control.  (A teach that waits spends nothing: approval teaches as the owner.)
3. *Learning and the guard*: the online learner takes one bounded step with replay, and
   the guard (``network.online.guard``) compares the new version with the base and the
   best recent one on held-out MNIST, every class of drawn digits, the not-sure rate on
   non-digits and calibration; any figure beyond its margin refuses the step.

The writer's own adaptation is not decided here: it learns every teach (``webapp.hub``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from network import pretrained
from network.nn.model import Sequential
from network.online.guard import Checks, Margins, verdict
from network.online.learner import OnlineLearner

from .store import Budget, TeachDecision, TeachTransaction


@dataclass(frozen=True)
class Policy:
    """How strict the shared model is; ``from_config`` reads the settings."""

    margins: Margins = Margins()
    agree_sources: int = 0  # sources needed before a contradiction reaches the shared
    # model; 0: none are enough, an operator approves it (``inkling drawings --approve``)
    agree_confidence: float = 0.9  # reads the label this sure: learned without agreement
    agree_hours: float = 24.0
    not_sure_below: float = pretrained.NOT_SURE_BELOW  # below: "not sure it is a digit"
    per_hour: float = 60.0  # shared teaches per writer and per address (budgets)
    burst: float = 20.0
    prefix_per_hour: float = 240.0
    prefix_burst: float = 60.0
    budgets: bool = True

    def always_learns(self, request) -> bool:
        """Whether a teach goes on to learning whatever the model reads (the owner's, a
        token holder's, or any when one source is agreement enough): its transaction
        locks everyone's model from the start instead of finding a newer version at
        ``claim_shared`` and running again."""
        return request.trust in ("owner", "token") or self.agree_sources == 1

    @classmethod
    def from_config(cls, config) -> Policy:
        """The policy of an app's settings (``webapp.settings``)."""
        return cls(
            margins=Margins(step=config["GUARD_STEP"], drop=config["GUARD_DROP"],
                          drawn=config["GUARD_CLASS_DROP"], unsure=config["GUARD_UNSURE_DROP"],
                          ece=config["GUARD_ECE_RISE"]),
            agree_sources=config["AGREE_SOURCES"], agree_confidence=config["AGREE_CONFIDENCE"],
            agree_hours=config["AGREE_HOURS"],
            per_hour=config["SHARED_TEACHES_PER_HOUR"],
            burst=max(1.0, config["SHARED_TEACHES_PER_HOUR"] / 3),
            prefix_per_hour=config["SHARED_TEACHES_PER_HOUR_PER_PREFIX"],
            prefix_burst=max(1.0, config["SHARED_TEACHES_PER_HOUR_PER_PREFIX"] / 4),
            budgets=config["RATE_LIMITS"])


def article(digit: int) -> str:
    """'an' before 8 (eight), 'a' before every other digit."""
    return "an" if digit == 8 else "a"


def belief(predicted: int, label: int, confidence: float, policy: Policy) -> str:
    """What the shared model thinks of a drawing whose teach must wait, in words."""
    if confidence < policy.not_sure_below:
        return "is not sure this is a digit at all"
    if predicted == label:
        return f"is not yet sure this is {article(label)} {label}"
    if confidence >= policy.agree_confidence:
        return f"is sure this is {article(predicted)} {predicted}"
    return f"reads this as {article(predicted)} {predicted}"


def shared_step(policy: Policy, learner: OnlineLearner, rng: np.random.Generator,
                txn: TeachTransaction, model: Sequential, features: np.ndarray,
                shared: np.ndarray, predicted: int,
                seen: int) -> tuple[TeachDecision, Sequential | None]:
    """Budgets, agreement, learning and the guard for ``txn.request`` inside its
    transaction.

    ``features`` (D,) are the drawing's trunk features under ``model``, ``shared`` (10,)
    the shared model's answer for it, ``predicted`` its digit and ``seen`` the digit the
    writer's own predictions showed.  Returns the decision and the new model (None
    unless accepted).
    """
    request = txn.request
    label = request.label
    confidence = float(shared[predicted])
    if not policy.always_learns(request) and \
            not (predicted == label and confidence >= policy.agree_confidence):
        if policy.agree_sources == 0:
            return TeachDecision(
                "pending", predicted, seen,
                f"Everyone's model {belief(predicted, label, confidence, policy)}, so it "
                f"waits until the server's operator approves this drawing as {article(label)} "
                f"{label}."), None
        since = time.time() - policy.agree_hours * 3600
        others = txn.agreeing_sources(predicted, label, request.source, since)
        if others + 1 < policy.agree_sources:
            return TeachDecision(
                "pending", predicted, seen,
                f"Everyone's model {belief(predicted, label, confidence, policy)}, so it "
                f"waits until people elsewhere teach such drawings as {label}s too."), None
    # From here on the teach may change everyone's model: lock it (BaseMoved if another
    # worker made a version since this teach read it: the hub runs it again).
    txn.claim_shared()
    budgets = []
    if policy.budgets and request.trust == "token":
        budgets.append(Budget("token", policy.prefix_per_hour, policy.prefix_burst))
    elif policy.budgets and request.trust == "public":
        for kind, key in (("writer", request.writer), ("address", request.address)):
            if key:
                budgets.append(Budget(f"{kind}:{key}", policy.per_hour, policy.burst))
        if request.source:
            budgets.append(Budget(f"prefix:{request.source}", policy.prefix_per_hour,
                                  policy.prefix_burst))
    if budgets:
        spent = txn.spent_budget(budgets)
        if spent is not None:
            who = {"writer": "writer", "address": "address", "prefix": "network",
                   "token": "teach token"}[spent.key.split(":")[0]]
            return TeachDecision(
                "refused", predicted, seen,
                f"Everyone's model has learned all it takes from this {who} for now "
                f"(at most {spent.per_hour:g} drawings an hour); it will listen again "
                "soon."), None
    replay_x, replay_y = txn.replay(learner.taught, rng)
    result = learner.teach(model, request.pixels, label, replay_x, replay_y, features)
    base = Checks.from_json(txn.base.checks) or learner.checks(model)
    reason = verdict(label, result.checks, base, txn.best_heldout(),
                     Checks.from_json(txn.reference), policy.margins)
    if reason is not None:
        return TeachDecision("refused", predicted, seen,
                             f"Everyone's model set this drawing aside: {reason}"), None
    return TeachDecision(
        "accepted", predicted, seen, heldout=result.checks.heldout,
        checks=result.checks.to_json(), weights=result.model.to_bytes(),
        metadata={"label": label, "predicted": predicted, "loss": result.loss,
                  "trust": request.trust,
                  "learner": learner.config()},
        spend=tuple(b.key for b in budgets)), result.model
