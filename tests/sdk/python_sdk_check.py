"""The official Microsoft Graph Python SDK (msgraph-sdk) against graph-photo serve.

Usage: python python_sdk_check.py BASE TOKEN
  BASE   the API root, e.g. http://127.0.0.1:8080/v1.0
  TOKEN  a development token of Adele Vance (seeded tenant) with
         "User.ReadWrite Contacts.ReadWrite", e.g. from
         graph-photo token --user AdeleV@contoso.onmicrosoft.com --scopes "User.ReadWrite Contacts.ReadWrite"

Only the base URL and the token provider differ from what a program calling Graph would do.
Prints one line per check; exits 1 at the first failure. Run by tests/tests/e2e/official_sdks.rs.
"""

import asyncio
import re
import struct
import sys
import zlib

from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

# The seeded development tenant (spec E2).
ADELE_ID = "6e7b768e-07e2-4810-8459-485f84f8f204"
ADELE_UPN = "AdeleV@contoso.onmicrosoft.com"
ALEX_UPN = "AlexW@contoso.onmicrosoft.com"
FRIENDS_FOLDER_ID = "AAMkAGI2TAAA="
FOLDER_CONTACT_ID = "AAMkAGI2THVSAAB="
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)
    print(f"ok - {what}")


class StaticToken(AccessTokenProvider):
    """The token given on the command line, for any host (the server is not a Graph host)."""

    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def png(width, height, shade):
    """An opaque RGB PNG, made with the standard library only."""
    row = b"\x00" + bytes((shade, 0x80, 0xF0 - shade)) * width
    raw = row * height

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def expect_odata_error(call, status, code, what):
    try:
        await call
    except ODataError as error:
        check(
            error.response_status_code == status and error.error is not None and error.error.code == code,
            f"{what}: ODataError {error.response_status_code} {error.error.code if error.error else None}",
        )
        return error
    raise CheckFailed(f"{what}: no error raised (expected {status} {code})")


async def main(base, token):
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)))
    adapter.base_url = base
    client = GraphServiceClient(request_adapter=adapter)
    photo = png(120, 100, 0x10)

    # Upload, as the Graph docs' Python snippet does.
    await client.me.photo.content.put(photo)
    check(True, "me.photo.content.put of a 120x100 PNG")

    meta = await client.me.photo.get()
    check(
        meta is not None and (meta.id, meta.width, meta.height) == ("120x100", 120, 100),
        f"me.photo.get metadata: id={meta.id} width={meta.width} height={meta.height}",
    )

    data = await client.me.photo.content.get()
    check(data == photo, f"me.photo.content.get returns the uploaded bytes ({len(data)} bytes)")

    photos = await client.me.photos.get()
    ids = [p.id for p in photos.value]
    check(ids == ["48x48", "64x64", "96x96"], f"me.photos.get ids: {ids}")

    small = await client.me.photos.by_profile_photo_id("48x48").content.get()
    check(
        small is not None and small[:3] == b"\xff\xd8\xff",
        f"me.photos.by_profile_photo_id('48x48').content.get: a JPEG of {len(small or b'')} bytes",
    )

    # By userPrincipalName: the SDK percent-encodes the '@'.
    by_upn = png(100, 100, 0x40)
    await client.users.by_user_id(ADELE_UPN).photo.content.put(by_upn)
    check(True, f"users.by_user_id({ADELE_UPN!r}).photo.content.put")
    data = await client.users.by_user_id(ADELE_ID).photo.content.get()
    check(data == by_upn, "the photo uploaded by UPN is the one read back by id")

    # Someone else's photo with User.ReadWrite only: 403.
    error = await expect_odata_error(
        client.users.by_user_id(ALEX_UPN).photo.content.put(photo),
        403,
        "ErrorAccessDenied",
        "another user's photo",
    )
    inner = error.error.inner_error
    request_id = inner.request_id if inner else None
    check(
        request_id is not None and UUID.match(request_id) is not None,
        f"the 403 carries innerError.request-id {request_id}",
    )
    check(bool(error.error.message), f"the 403 carries a message: {error.error.message!r}")

    await expect_odata_error(
        client.me.photo.content.put(b"this is not an image"),
        400,
        "ErrorInvalidImage",
        "a body that is not an image",
    )

    await client.me.photo.delete()
    check(True, "me.photo.delete")
    error = await expect_odata_error(
        client.me.photo.get(), 404, "ErrorEntityNotFound", "metadata after the delete"
    )
    check(
        error.error.message == "The photo wasn't found.",
        f"the 404 message: {error.error.message!r}",
    )

    # A contact in a contact folder; both ids end in '='.
    contact = png(64, 64, 0x90)
    folder_contact = client.me.contact_folders.by_contact_folder_id(
        FRIENDS_FOLDER_ID
    ).contacts.by_contact_id(FOLDER_CONTACT_ID)
    await folder_contact.photo.content.put(contact)
    check(True, f"contact_folders[{FRIENDS_FOLDER_ID}].contacts[{FOLDER_CONTACT_ID}].photo.content.put")
    meta = await folder_contact.photo.get()
    check(
        (meta.id, meta.width, meta.height) == ("64x64", 64, 64),
        f"the contact photo's metadata: id={meta.id}",
    )
    data = await folder_contact.photo.content.get()
    check(data == contact, "the contact photo's bytes")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except CheckFailed as failure:
        print(f"FAILED - {failure}", file=sys.stderr)
        sys.exit(1)
    print("python msgraph-sdk: all checks passed")
