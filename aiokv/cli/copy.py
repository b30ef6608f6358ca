"""The copy command: every key of one store (a file or Redis) into another, all or none."""

from __future__ import annotations

import argparse

from ..protocol import Store
from .codes import EXIT_OK, EXIT_USAGE, Failure, note
from .interrupt import committing
from .locations import location, run_redis, shown
from .output import counted, say
from .reads import read_store
from .writes import refuse_missing, write_as_owner


def copy_command(args: argparse.Namespace) -> int:
    """Copy every key of SOURCE into DEST (a file or a Redis store), all of them or none."""
    if args.old_version is not None:
        if args.schema_version is not None:
            raise Failure(EXIT_USAGE, "give --schema-version alone (--version is its old name)")
        note("copy's --version is deprecated: it is --schema-version now")
        args.schema_version = args.old_version
    location(args.source)  # a bad URL is a usage error before anything else
    dest = location(args.dest)
    source_shown, where = shown(args.source), shown(args.dest)
    if isinstance(dest, str):
        refuse_missing(dest, args.create)  # before a long read of the source
    state, version, _ = read_store(args.source, "nothing copied")
    if args.schema_version is not None:
        version = args.schema_version

    async def change(kv: Store) -> int:
        held = await kv.keys()  # listed before any change: a failure then changes nothing
        if held and not args.replace:
            raise Failure(
                EXIT_USAGE,
                f"{where} is not empty ({counted(len(held), 'key')}); nothing copied "
                "(--replace replaces it)",
            )
        committing()  # Redis applies each step at once: once begun, the copy is finished
        await kv.update(state)  # every key and value checked first: all or none
        for key in set(held) - state.keys():
            await kv.delete(key)
        return EXIT_OK

    if isinstance(dest, str):
        code = write_as_owner(dest, args.wait, change, version, create=args.create)
    else:
        if args.schema_version is not None:
            note(f"a Redis store records no schema version: --schema-version {version} left out")
        elif version:
            note(f"{source_shown} records schema version {version}; a Redis store records none")
        code = run_redis(dest, change, "nothing copied")
    # On stderr: stdout is for data, and a copy prints none.
    say(f"copied {counted(len(state), 'key')} from {source_shown} to {where}")
    return code
