"""`debugnet dumps`: list, show, group, read, decrypt, extract and remove collected dumps."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from debugnet.errors import InvalidArgument, NoEntry

if TYPE_CHECKING:
    from debugnet.catalogue import Catalogue, DumpRecord

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
STATES = ("receiving", "complete", "incomplete", "failed")
_INFO_MAX = 1 << 20


def duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or plain seconds."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (like 30d, 12h, 90m)")
    return float(m.group(1)) * _UNIT[m.group(2)]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=Path("crash"), help="dump directory")
    parser.add_argument(
        "--catalogue",
        metavar="URL",
        help="a shared catalogue (postgresql://...) or an SQLite file (default: in --dir)",
    )
    parser.add_argument(
        "--store",
        metavar="s3://BUCKET[/PREFIX]",
        help="the bucket the collectors' --store names: files are read from (and "
        "removed in) it; decrypt and extract write to the current directory",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="dumps, newest first")
    p.add_argument("--host")
    p.add_argument("--since", type=duration, help="started within this long (30d, 12h)")
    p.add_argument("--state", choices=STATES)
    p.add_argument("--signature")
    p.add_argument("--limit", type=int)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="every field, the info file, files, message buffer tail")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("groups", help="dumps grouped by signature")
    p.add_argument("--since", type=duration)
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("msgbuf", help="the kernel message buffer, as dmesg shows it")
    p.add_argument("id")
    p = sub.add_parser("decrypt", help="decrypt as decryptcore(8) does")
    p.add_argument("id")
    p.add_argument("--key", type=Path, required=True, help="RSA private key (PEM)")
    p.add_argument("-o", "--output", type=Path)
    p.add_argument("--force", action="store_true", help="overwrite the output")
    p = sub.add_parser("extract", help="decompress to a plain vmcore")
    p.add_argument("id")
    p.add_argument("-o", "--output", type=Path)
    p.add_argument("--force", action="store_true", help="overwrite the output")
    p = sub.add_parser("rm", help="delete dumps and their records")
    p.add_argument("ids", nargs="+", metavar="ID")
    sub.add_parser("reindex", help="rebuild the catalogue from the files")
    sub.add_parser("migrate", help="create the catalogue's schema or migrate it forward")
    p = sub.add_parser("mkdir", help="create a folder heralds may name (PATH/ in the bucket)")
    p.add_argument("path", metavar="PATH")
    p = sub.add_parser("merge", help="record that two signatures are one cause")
    p.add_argument("a", metavar="SIG_A")
    p.add_argument("b", metavar="SIG_B")
    parser.set_defaults(command="dumps")


def _open(args: argparse.Namespace) -> Catalogue:
    from debugnet.catalogue import open_catalogue_at

    if args.catalogue is not None:  # a shared catalogue: no dump directory to build it from
        return open_catalogue_at(args.catalogue, args.dir, migrate=args.action == "migrate")
    if args.store is not None and not args.dir.is_dir():
        raise InvalidArgument("--store needs the catalogue the collectors share: --catalogue URL")
    return _open_dir(args.dir, build=args.action not in ("reindex", "migrate"))


def _open_dir(dumpdir: Path, *, build: bool = True) -> Catalogue:
    from debugnet.catalogue import open_catalogue, reindex
    from debugnet.catalogue.sqlite import catalogue_path

    if not dumpdir.is_dir():
        raise NoEntry(f"{dumpdir}: no such dump directory")
    fresh = not catalogue_path(dumpdir).exists()
    catalogue = open_catalogue(dumpdir)
    if fresh and build:
        found = reindex(catalogue, dumpdir)
        print(f"catalogue created from the files: {found} dumps", file=sys.stderr)
    return catalogue


def _record(catalogue: Catalogue, dump_id: str) -> DumpRecord:
    from debugnet.catalogue import split_id

    split_id(dump_id)  # a malformed ID is a usage error, not "not found"
    record = catalogue.get(dump_id)
    if record is None:
        raise NoEntry(f"no dump {dump_id} in the catalogue (try 'debugnet dumps reindex')")
    return record


def run(args: argparse.Namespace) -> int:
    if args.action == "mkdir":
        return _mkdir(args)
    from debugnet.catalogue.dumpfiles import open_dump_files

    catalogue = _open(args)
    args.files = open_dump_files(args.dir, args.store)
    try:
        handler = _ACTIONS[args.action]
        return handler(args, catalogue)
    finally:
        args.files.close()
        catalogue.close()


def _list(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue import DumpState, ListQuery
    from debugnet.cli import dumps_format as fmt

    if args.limit is not None and args.limit < 0:
        raise InvalidArgument("--limit must not be negative")
    query = ListQuery(
        host=args.host,
        since=None if args.since is None else time.time() - args.since,
        state=None if args.state is None else DumpState(args.state),
        signature=args.signature,
        limit=args.limit,
    )
    records = catalogue.dumps(query)
    if args.json:
        print(fmt.dump_json([fmt.record_json(r) for r in records], compact=True))
    else:
        print(fmt.list_table(records))
    return 0


def _groups(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.cli import dumps_format as fmt

    groups = catalogue.groups(None if args.since is None else time.time() - args.since)
    if args.json:
        print(fmt.dump_json([fmt.group_json(g) for g in groups]))
    else:
        print(fmt.groups_table(groups, time.time()))
    return 0


def _show(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue import actions
    from debugnet.cli import dumps_format as fmt
    from debugnet.errors import DebugnetError

    record = _record(catalogue, args.id)
    info = _info_text(args, record)
    try:
        tail = "\n".join(actions.msgbuf(args.files, record).rstrip("\n").split("\n")[-20:])
    except DebugnetError as exc:
        tail = f"({exc})"
    if args.json:
        doc = fmt.record_json(record) | {"info": info, "msgbuf_tail": tail}
        print(fmt.dump_json(doc))
        return 0
    print(fmt.show_text(record))
    print("info file:")
    print("  " + info.rstrip("\n").replace("\n", "\n  "))
    print("message buffer (last 20 lines):")
    print("  " + tail.replace("\n", "\n  "))
    return 0


def _info_text(args: argparse.Namespace, record: DumpRecord) -> str:
    """The dump's info file, from --dir or (with --store) from the bucket."""
    from debugnet.catalogue.dumpfiles import DumpFiles
    from debugnet.errors import DebugnetError

    files: DumpFiles = args.files
    names = [f for f in record.files if Path(f).name.startswith("info.")]
    if not names:
        return ""
    try:
        return files.read(names[0], _INFO_MAX).decode("utf-8", "replace")
    except DebugnetError as exc:
        return f"(cannot read the info file: {exc})"


def _msgbuf(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue import actions

    sys.stdout.write(actions.msgbuf(args.files, _record(catalogue, args.id)))
    return 0


def _decrypt(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue import actions

    record = _record(catalogue, args.id)
    try:
        pem = args.key.read_bytes()
    except OSError as exc:
        raise NoEntry(f"{args.key}: {exc.strerror}") from None
    out = actions.decrypt(args.files, record, pem, args.output, args.force)
    catalogue.update(record.id, files=args.files.present(record))
    print(f"decrypted {record.id} -> {out}")
    return 0


def _extract(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue import actions

    record = _record(catalogue, args.id)
    out = actions.extract(args.files, record, args.output, args.force)
    catalogue.update(record.id, files=args.files.present(record))
    print(f"extracted {record.id} -> {out}")
    return 0


def _rm(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue import DumpState, actions
    from debugnet.errors import Busy

    records = [_record(catalogue, i) for i in args.ids]  # all or nothing
    receiving = [r.id for r in records if r.state is DumpState.RECEIVING]
    if receiving:
        raise Busy(f"{', '.join(receiving)}: still being received (not removed)")
    local = args.store is None  # names under --dir, as before; full URLs in a bucket
    for name in actions.remove(args.files, catalogue, records):
        print(f"removed {name if local else args.files.describe(name)}")
    return 0


def _reindex(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue import reindex
    from debugnet.catalogue.postgres import is_postgres_url

    if args.store is not None:
        print(f"{reindex(catalogue, args.dir, args.files.scan())} dumps indexed in {args.store}")
    elif args.catalogue is not None and is_postgres_url(args.catalogue):
        raise InvalidArgument(
            "reindex replaces every record; a shared catalogue is rebuilt from its bucket "
            "(--store s3://...), not from one directory"
        )
    else:
        print(f"{reindex(catalogue, args.dir)} dumps indexed in {args.dir}")
    return 0


def _merge(args: argparse.Namespace, catalogue: Catalogue) -> int:
    if args.a == args.b:
        raise InvalidArgument("the two signatures are the same")
    shown = catalogue.merge(args.a, args.b)
    print(f"merged: {args.b!r} is grouped under {shown!r}")
    return 0


def _mkdir(args: argparse.Namespace) -> int:
    """A folder for herald paths: ``PREFIX/PATH/`` in the bucket, or a directory under --dir."""
    if args.store is None:
        target = args.dir / args.path
        if Path(args.path).is_absolute() or ".." in Path(args.path).parts:
            raise InvalidArgument(f"{args.path!r} must be relative, without '..'")
        target.mkdir(parents=True, exist_ok=True)
        print(f"created {target}")
        return 0
    from debugnet.catalogue.s3location import S3Location
    from debugnet.storage.s3.store import S3Store

    store = S3Store(S3Location.parse(args.store), workers=1)
    try:
        key = store.mkdir(args.path)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    finally:
        store.close()
    print(f"created s3://{store.location.bucket}/{key}")
    return 0


def _migrate(args: argparse.Namespace, catalogue: Catalogue) -> int:
    from debugnet.catalogue.sql import SCHEMA_VERSION

    print(f"catalogue schema at version {SCHEMA_VERSION}")
    return 0


_ACTIONS = {
    "migrate": _migrate,
    "list": _list,
    "show": _show,
    "groups": _groups,
    "msgbuf": _msgbuf,
    "decrypt": _decrypt,
    "extract": _extract,
    "rm": _rm,
    "reindex": _reindex,
    "merge": _merge,
}
