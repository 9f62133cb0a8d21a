"""The operator's commands: ``inkling versions``, ``rollback``, ``rebase``, ``drawings``,
``export`` and ``db``, on the database a running Inkling uses (see ``webapp.cli``)."""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path

import numpy as np

from network import pretrained
from network.durable import atomic_write_bytes
from network.nn.model import load_model
from webapp.store import STATUSES, StoreError

from .args import CliError, Parser, number_of

DRAWINGS_COLUMNS = """\
columns of the list:
  id       the drawing's id (for --delete, --quarantine and --approve)
  created  when it was taught (local time)
  status   accepted: everyone's model learned it; pending: it waits for an operator's
           --approve (or, with INKLING_AGREE_SOURCES set, for writers in other networks
           to teach the same); refused: the guard or a spent budget kept it out (the
           reason says which); quarantined: set aside by an operator
  label    the digit it was taught as
  read     what everyone's model read before the teach
  seen     what the writer's page showed before the teach: everyone's model together
           with the writer's own adaptation (the same as read for a drawing without a
           writer); a writer's "read right before you taught" share counts seen == label
  version  the model version the teach made (accepted drawings only)
  writer   the writer id of the page that taught it
  source   the network prefix it came from (agreement and budgets count prefixes)
  reason   why it is pending, refused or quarantined
"""

EXPORT_DESCRIPTION = """\
Write taught drawings as one .npz: images uint8 (N, 28, 28) and labels uint8 (N,), in
teach order.

By default it holds only the drawings everyone's model learned (status accepted): the
data set GET /api/samples.npz serves. With --writer it holds that writer's drawings of
every status but quarantined, as GET /api/samples.npz?writer=ID does. --status chooses
the statuses instead (`inkling drawings --help` explains them). The command says how
many drawings it left out, and how to include them.
"""



def add_commands(sub) -> None:
    """The operator's commands' parsers, under ``inkling``'s subcommands."""
    # -- the operator's commands: the database the app uses --------------------------
    where = Parser(add_help=False)
    where.add_argument("--database-url", metavar="URL",
                       help="postgresql://... (default: $INKLING_DATABASE_URL; else SQLite "
                            "in the instance folder)")
    where.add_argument("--instance", metavar="FOLDER",
                       help="the instance folder (default: $INKLING_INSTANCE_PATH or ./instance)")

    v = sub.add_parser("versions", parents=[where],
                       help="every retained model version: time, held-out accuracy, parent, "
                            "drawings taught")
    v.add_argument("--json", action="store_true", help="one JSON object per line")

    r = sub.add_parser("rollback", parents=[where],
                       help="a new version with an older version's weights (history kept)")
    r.add_argument("version", type=number_of("a version number"), metavar="VERSION")

    b = sub.add_parser("rebase", parents=[where],
                       help="a new version: a newly shipped model with this instance's "
                            "accepted drawings replayed onto it under the guard",
                       description="After upgrading Inkling: take the newly shipped model "
                                   "(or --model FILE), teach it every drawing everyone's "
                                   "model learned here, in order, under the guard, and adopt "
                                   "the result as the next version (every worker and host "
                                   "picks it up). Drawings and history are kept.")
    b.add_argument("--model", default=str(pretrained.CNN),
                   help="the new base model (default: the shipped CNN)")

    d = sub.add_parser("drawings", parents=[where],
                       help="list taught drawings, or delete or quarantine some by id",
                       description="List taught drawings, oldest first, or delete or "
                                   "quarantine some by id.",
                       epilog=DRAWINGS_COLUMNS,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--writer", help="only this writer's drawings")
    d.add_argument("--status", choices=STATUSES, help="only drawings with this status")
    d.add_argument("--json", action="store_true", help="one JSON object per line")
    act = d.add_mutually_exclusive_group()
    act.add_argument("--delete", nargs="+", type=number_of("a drawing id"), metavar="ID",
                     help="delete these drawings (the versions they taught stay)")
    act.add_argument("--quarantine", nargs="+", type=number_of("a drawing id"), metavar="ID",
                     help="set these drawings aside: out of replay, the data set (the "
                          "default export) and personal memories")
    act.add_argument("--approve", nargs="+", type=number_of("a drawing id"), metavar="ID",
                     help="teach everyone's model these pending drawings, as the owner "
                          "would (the guard still checks each step): how a public "
                          "server's corrections reach everyone")
    d.add_argument("--reason", default="set aside by an operator",
                   help="why, for --quarantine")

    o = sub.add_parser("export", parents=[where],
                       help="taught drawings as .npz: by default the ones everyone's model "
                            "learned (accepted), as GET /api/samples.npz gives them",
                       description=EXPORT_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add_argument("--out", required=True, metavar="FILE",
                   help="the .npz file to write, in a folder that exists")
    o.add_argument("--writer", help="only this writer's drawings (then by default every "
                                    "status but quarantined, as GET /api/samples.npz?writer= "
                                    "gives them)")
    o.add_argument("--status", nargs="+", choices=STATUSES, metavar="S",
                   help="only drawings with these statuses: accepted, pending, refused, "
                        "quarantined (default: accepted; with --writer: accepted pending "
                        "refused)")

    b = sub.add_parser("db", help="the database's schema")
    bsub = b.add_subparsers(dest="db_command", required=True, metavar="upgrade")
    bsub.add_parser("upgrade", parents=[where],
                    help="create or upgrade the schema (the app also does it at start)")


def store_config(args):
    """(config, instance folder) as the app layers them (``load_config``), then
    --instance and --database-url."""
    from webapp.settings import load_config

    overrides = {} if args.database_url is None else {"DATABASE_URL": args.database_url or None}
    return load_config(args.instance, overrides)


def open_database(args, create: bool = False):
    """The app's store (its schema brought up to date, as at the app's start)."""
    from webapp.store import open_store
    from webapp.store.sqlite import DATABASE_NAME

    config, instance = store_config(args)
    if not config.get("DATABASE_URL") and not create:
        path = os.path.join(instance, DATABASE_NAME)
        if not os.path.isfile(path):
            raise CliError(f"no Inkling database at {path} (give --instance FOLDER, "
                           "--database-url URL, or start the app once)")
    return open_store(config, instance)


def _when(created: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.2f}%"


def cmd_versions(args) -> int:
    with open_database(args) as store:
        rows = store.versions()
        for row in rows:
            metadata = store.version_info(row["version"]).metadata
            row["note"] = (f"rollback to {metadata['rolled_back_to']}"
                           if "rolled_back_to" in metadata
                           else "seed" if row["parent"] is None else "")
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("no versions yet (the app seeds version 1 at its first start)")
        return 0
    print(f"{'version':>7}  {'created':<19}  {'held-out':>8}  {'parent':>6}  {'taught':>6}  note")
    for row in rows:
        parent = "-" if row["parent"] is None else row["parent"]
        line = (f"{row['version']:>7}  {_when(row['created']):<19}  "
                f"{_percent(row['heldout']):>8}  {parent:>6}  {row['taught']:>6}  {row['note']}")
        print(line.rstrip())
    return 0


def cmd_rollback(args) -> int:
    with open_database(args) as store:
        info = store.rollback(args.version)
    print(f"version {info.version} now has the weights of version {args.version} "
          f"(held-out {_percent(info.heldout)}); every worker adopts it within a second")
    return 0


def cmd_rebase(args) -> int:
    from network.online.learner import OnlineLearner
    from network.online.rebase import replay
    from webapp.policy import Policy

    config, _ = store_config(args)
    model = load_model(args.model)
    rng = np.random.default_rng(config["SEED"])
    learner = OnlineLearner.from_subset(rng=rng, not_sure_below=pretrained.NOT_SURE_BELOW)
    with open_database(args) as store:
        before = store.version_info()
        images, labels = store.export_samples()
        rebased = replay(model, images, labels, learner, Policy.from_config(config).margins,
                         rng)
        info = store.rebase(rebased.model.to_bytes(),
                            {"rebased_onto": os.path.abspath(args.model),
                             "replayed": rebased.learned, "set_aside": rebased.set_aside,
                             "learner": learner.config()},
                            rebased.checks.heldout, rebased.checks.to_json(),
                            rebased.reference.to_json())
    print(f"version {info.version}: {args.model} with {rebased.learned} of this instance's "
          f"{len(labels)} accepted drawings replayed ({rebased.set_aside} set aside by the "
          f"guard); held-out {_percent(rebased.checks.heldout)} (version {before.version}: "
          f"{_percent(before.heldout)}); every worker adopts it within a second")
    return 0


def cmd_drawings(args) -> int:
    ids = args.delete or args.quarantine or args.approve
    if ids and (args.writer is not None or args.status is not None or args.json):
        raise CliError("--delete, --quarantine and --approve take ids only, not --writer, "
                       "--status or --json")
    if args.approve:
        return approve(args)
    with open_database(args) as store:
        if args.delete:
            done, verb = store.delete_drawings(ids), "deleted"
        elif args.quarantine:
            done, verb = store.quarantine(ids, args.reason), "quarantined"
        else:
            rows = store.drawings(writer=args.writer, status=args.status)
    if ids:
        asked = sorted(set(ids))
        if done == 0 and args.delete:
            raise CliError(f"no drawing has the id{'s' if len(asked) > 1 else ''} "
                           f"{', '.join(map(str, asked))}")
        print(f"{verb} {done} of {len(asked)} drawing{'s' if len(asked) != 1 else ''}"
              + ("" if done == len(asked) else
                 " (the others do not exist)" if args.delete else
                 " (the others do not exist or were quarantined already)"))
        return 0
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'id':>6}  {'created':<19}  {'status':<11}  label  read  seen  {'version':>7}  "
          "writer  source  reason")
    for row in rows:
        version = "-" if row["version"] is None else row["version"]
        print(f"{row['id']:>6}  {_when(row['created']):<19}  {row['status']:<11}  "
              f"{row['label']:>5}  {row['predicted']:>4}  {row['seen']:>4}  {version:>7}  "
              f"{row['writer'] or '-'}  {row['source'] or '-'}  {row['reason'] or ''}".rstrip())
    print(f"{_drawings(len(rows))} (read: what everyone's model read; seen: what the writer's "
          "page showed; `inkling drawings --help` explains every column)")
    return 0


def approve(args) -> int:
    """Teach everyone's model each pending drawing by id; one line each."""
    from webapp.hub import ModelHub
    from webapp.policy import Policy, article

    config, _ = store_config(args)
    store = open_database(args)
    try:
        hub = ModelHub(store, policy=Policy.from_config(config), seed=config["SEED"])
    except BaseException:
        store.close()
        raise
    missing = []
    with hub:
        for drawing_id in sorted(set(args.approve)):
            try:
                outcome = hub.approve(drawing_id)
            except StoreError:
                missing.append(drawing_id)
                continue
            heldout = outcome.accuracy["heldout"]
            figure = "" if heldout is None else f", held-out {100 * heldout:.2f}%"
            if outcome.accepted:
                print(f"drawing {drawing_id} ({article(outcome.label)} {outcome.label}): "
                      f"learned, version {outcome.version}{figure}")
            else:
                print(f"drawing {drawing_id} ({article(outcome.label)} {outcome.label}): "
                      f"{outcome.status}: {outcome.reason}")
    if missing:
        raise CliError(f"not pending: {', '.join(map(str, missing))} (inkling drawings "
                       "--status pending lists the drawings waiting for approval)")
    return 0


EXPORT_DEFAULT = ("accepted",)
"""What ``inkling export`` writes without --status: the shared data set."""
EXPORT_WRITER_DEFAULT = ("accepted", "pending", "refused")
"""What ``inkling export --writer ID`` writes without --status: as ?writer= serves."""


def _check_out_file(out: Path) -> None:
    """--out names a file in a folder that exists; nothing is created on the way."""
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; give a file name such as samples.npz")
    folder = out.parent
    if folder.is_dir():
        return
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise CliError(f"--out {out}: {ancestor} is a file, not a folder")
    raise CliError(f"--out {out}: the folder {folder} does not exist (create it first)")


def _status_counts(store, writer: str | None) -> dict[str, int]:
    """How many drawings (of one writer) have each status."""
    if writer is None:
        return store.counts()
    counts = dict.fromkeys(STATUSES, 0)
    for row in store.drawings(writer=writer):
        counts[row["status"]] += 1
    return counts


def _drawings(n: int) -> str:
    return f"{n} drawing{'s' if n != 1 else ''}"


def cmd_export(args) -> int:
    out = Path(args.out)
    _check_out_file(out)
    default = EXPORT_DEFAULT if args.writer is None else EXPORT_WRITER_DEFAULT
    statuses = tuple(s for s in STATUSES if s in (args.status or default))
    with open_database(args) as store:
        # the default is what GET /api/samples.npz serves
        images, labels = store.export_samples(
            args.writer, None if statuses == default else statuses)
        counts = _status_counts(store, args.writer)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels)
    atomic_write_bytes(out, buffer.getvalue())
    what = ("the ones everyone's model learned" if statuses == ("accepted",)
            else f"status {', '.join(statuses)}")
    whose = "" if args.writer is None else f" of writer {args.writer}"
    print(f"wrote {out}: {_drawings(len(labels))}{whose}, {what} "
          "(images uint8 (N, 28, 28), labels uint8 (N,))")
    left = {s: n for s, n in counts.items() if s not in statuses and n}
    if left:
        every = " ".join(s for s in STATUSES if s in statuses or s in left)
        print(f"left out: {', '.join(f'{n} {s}' for s, n in left.items())} "
              f"(--status {every} includes them)")
    return 0


def cmd_db(args) -> int:
    with open_database(args, create=True) as store:  # opening migrates, under the lock
        before, after = store.migrated
    if before == 0:
        print(f"created the schema (version {after})")
    elif before < after:
        print(f"upgraded the schema from version {before} to {after}")
    else:
        print(f"the schema is up to date (version {after})")
    return 0


COMMANDS = {"versions": cmd_versions, "rollback": cmd_rollback, "rebase": cmd_rebase,
            "drawings": cmd_drawings, "export": cmd_export, "db": cmd_db}
