"""The baseline of `cargo xtask bench sync`: the official Microsoft Graph Python SDK (msgraph-sdk)
uploading photos one after another, as a program looping over a folder would.

Usage: python sdk_sync.py BASE TOKEN DIR MAP
  BASE   the API root, e.g. http://127.0.0.1:8080/v1.0
  TOKEN  an application token with ProfilePhoto.ReadWrite.All
  DIR    the folder the map's file names are relative to
  MAP    the `file,users/ID` CSV that `graph-photo sync` is given

One `PUT /users/{id}/photo/$value` per row (`client.users.by_user_id(id).photo.content.put`), in
order, each awaited before the next, the file read just before its upload. One untimed upload
first (imports, the adapter's first request, the connection), then the rows are timed with
time.perf_counter (wall) and time.process_time (this process's CPU). Prints one JSON object:
{"uploaded": N, "seconds": S, "cpu_seconds": C}.
"""

import asyncio
import json
import sys
import time
from pathlib import Path

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient


class StaticToken(AccessTokenProvider):
    """The token given on the command line, for any host (the server is not a Graph host)."""

    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def read_map(path):
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        file, target = (field.strip() for field in line.split(",", 1))
        if (file, target) == ("file", "target"):
            continue
        kind, _, user = target.partition("/")
        if kind != "users" or not user:
            raise SystemExit(f"{path}: only users/ID targets are supported: {line!r}")
        rows.append((file, user))
    return rows


async def main(base, token, folder, map_path):
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)))
    adapter.base_url = base
    client = GraphServiceClient(request_adapter=adapter)
    rows = read_map(map_path)
    folder = Path(folder)

    warm_file, warm_user = rows[0]
    await client.users.by_user_id(warm_user).photo.content.put((folder / warm_file).read_bytes())

    start, start_cpu = time.perf_counter(), time.process_time()
    for file, user in rows:
        await client.users.by_user_id(user).photo.content.put((folder / file).read_bytes())
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    print(json.dumps({"uploaded": len(rows), "seconds": seconds, "cpu_seconds": cpu_seconds}))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(*sys.argv[1:]))
