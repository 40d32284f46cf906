"""`make promote MODEL=… VERSION=vN ALIAS=production [REASON=…]`: point an alias at a complete version.

VERSION is vN, N, latest or another alias (its version now); rolling back is promoting the
older version. One conditional write moves the alias: if another promote moved it first, this
one changes nothing and says to run it again. Each move is kept in the alias's history (from,
to, when, by whom, why), which `make models MODEL=…` shows. Versions and latest.json are
never touched; `latest` is not an alias (publish moves it).
"""

from __future__ import annotations

import argparse
import functools
import sys

from ..core import s3
from ..core.cli import cli
from .aliases import alias_key, promote
from .listing import registry_for


@cli
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="the model's registry name")
    parser.add_argument("--version", required=True, help="vN, N, latest or an alias name")
    parser.add_argument("--alias", required=True, help="the alias to move (production, staging, ...)")
    parser.add_argument("--reason", help="why, for the alias's history")
    args = parser.parse_args()
    client_for = functools.cache(s3.client)  # one client per region: each costs a tenth of a second
    reg, _ = registry_for(args.model, client_for=client_for)
    move = promote(client_for(reg.region), reg, args.version, args.alias, args.reason)
    record = move.record
    if not move.changed:
        print(
            f"promote: {args.alias} of {reg.model_name} already points at v{record['version']}; nothing changed",
            file=sys.stderr,
        )
        return
    print(reg.uri(alias_key(reg, record["alias"])))
    was = "new alias" if record["from_version"] is None else f"was v{record['from_version']}"
    print(f"promote: {reg.model_name} {record['alias']} -> v{record['version']} ({was})", file=sys.stderr)


if __name__ == "__main__":
    main()
