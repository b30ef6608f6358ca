"""The copy command: every key of one store (a file or Redis) into another, all or none."""

from __future__ import annotations

import argparse

from .. import codec
from ..protocol import Store
from .codes import EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, Failure, note
from .interrupt import committing
from .locations import location, run_redis, shown
from .reads import read_state
from .writes import write_as_owner


def copy_command(args: argparse.Namespace) -> int:
    """Copy every key of SOURCE into DEST (a file or a Redis store), all of them or none."""
    source, dest = location(args.source), location(args.dest)
    source_shown, where = shown(args.source), shown(args.dest)
    if isinstance(source, str):
        state, version, _ = read_state(source)
    else:
        state, version = run_redis(source, lambda kv: kv.get_all()), 0
        # Another tool may have written the hash: refuse what a store cannot
        # hold (too deep, the reserved key) as the source's fault, before the
        # destination is touched.
        try:
            for key, value in state.items():
                codec.accept(value, codec.check_key(key))
        except (TypeError, ValueError) as e:
            raise Failure(EXIT_UNREADABLE, f"{source_shown}: {e}; nothing copied") from None
    if args.version is not None:
        version = args.version

    async def change(kv: Store) -> int:
        held = await kv.keys()  # listed before any change: a failure then changes nothing
        if held and not args.replace:
            raise Failure(
                EXIT_USAGE,
                f"{where} is not empty ({len(held)} keys); nothing copied (--replace replaces it)",
            )
        committing()  # Redis applies each step at once: once begun, the copy is finished
        await kv.update(state)  # every key and value checked first: all or none
        for key in set(held) - state.keys():
            await kv.delete(key)
        return EXIT_OK

    if isinstance(dest, str):
        code = write_as_owner(dest, args.wait, change, version)
    else:
        if args.version is not None:
            note(f"a Redis store records no schema version: --version {version} left out")
        elif version:
            note(f"{source_shown} records schema version {version}; a Redis store records none")
        code = run_redis(dest, change)
    print(f"copied {len(state)} keys from {source_shown} to {where}")
    return code
