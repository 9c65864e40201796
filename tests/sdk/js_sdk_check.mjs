// The official Microsoft Graph JavaScript SDK (@microsoft/microsoft-graph-client 3.0.7) against
// graph-photo serve over HTTPS.
//
// Usage: NODE_EXTRA_CA_CERTS=<data dir>/tls-cert.pem node js_sdk_check.mjs BASE TOKEN
//   BASE   the server root, e.g. https://127.0.0.1:8443 (the SDK adds /v1.0)
//   TOKEN  a development token of Adele Vance (seeded tenant) with
//          "User.ReadWrite Contacts.ReadWrite"
// The SDK is loaded from $GRAPH_PHOTO_SDK_JS_DIR/node_modules when set (`cargo xtask sdk-env`),
// else from node_modules beside this file (`npm ci` here).
//
// The SDK sends the token only to https:// URLs of Graph's hosts or of `customHosts`, hence
// HTTPS and `customHosts`. Prints one line per check; exits 1 at the first failure. Run by
// tests/tests/e2e/official_sdks.rs.

import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const sdkDir = resolve(process.env.GRAPH_PHOTO_SDK_JS_DIR || dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(sdkDir, "package.json"));
const { Client, GraphError } = require("@microsoft/microsoft-graph-client");

// The seeded development tenant (spec E2).
const ADELE_ID = "6e7b768e-07e2-4810-8459-485f84f8f204";
const ADELE_UPN = "AdeleV@contoso.onmicrosoft.com";
const ALEX_UPN = "AlexW@contoso.onmicrosoft.com";
const FRIENDS_FOLDER_ID = "AAMkAGI2TAAA=";
const FOLDER_CONTACT_ID = "AAMkAGI2THVSAAB=";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

class CheckFailed extends Error {}

function check(condition, what) {
  if (!condition) throw new CheckFailed(what);
  console.log(`ok - ${what}`);
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(kind, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(kind, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** An opaque RGB PNG, made with Node's zlib only. */
function png(width, height, shade) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, shade)]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function bytesOf(body) {
  if (body instanceof Blob) return Buffer.from(await body.arrayBuffer());
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (body && typeof body.getReader === "function") {
    return Buffer.from(await new Response(body).arrayBuffer());
  }
  throw new CheckFailed(`expected binary content, got ${body && body.constructor.name}`);
}

async function expectGraphError(call, status, code, what) {
  try {
    await call;
  } catch (error) {
    check(
      error instanceof GraphError && error.statusCode === status && error.code === code,
      `${what}: GraphError ${error.statusCode} ${error.code}`,
    );
    return error;
  }
  throw new CheckFailed(`${what}: no error thrown (expected ${status} ${code})`);
}

async function main(base, token) {
  check(base.startsWith("https://"), `the SDK talks to ${base} (it sends tokens over https only)`);
  const host = new URL(base).hostname.replace(/^\[|\]$/g, "");
  const client = Client.init({
    baseUrl: base,
    defaultVersion: "v1.0",
    authProvider: (done) => done(null, token),
    customHosts: new Set([host]),
  });
  const photo = png(120, 100, 0x30);

  // Upload, as the Graph docs' JavaScript snippet does: a Buffer, no Content-Type header.
  await client.api("/me/photo/$value").put(photo);
  check(true, "api('/me/photo/$value').put(buffer) of a 120x100 PNG");

  const meta = await client.api("/me/photo").get();
  check(
    meta.id === "120x100" && meta.width === 120 && meta.height === 100,
    `api('/me/photo').get() metadata: id=${meta.id} width=${meta.width} height=${meta.height}`,
  );

  const data = await bytesOf(await client.api("/me/photo/$value").get());
  check(data.equals(photo), `api('/me/photo/$value').get() returns the uploaded bytes (${data.length} bytes)`);

  const photos = await client.api("/me/photos").get();
  const ids = photos.value.map((p) => p.id);
  check(JSON.stringify(ids) === JSON.stringify(["48x48", "64x64", "96x96"]), `api('/me/photos').get() ids: ${ids}`);

  const small = await bytesOf(await client.api("/me/photos/48x48/$value").get());
  check(
    small[0] === 0xff && small[1] === 0xd8 && small[2] === 0xff,
    `api('/me/photos/48x48/$value').get(): a JPEG of ${small.length} bytes`,
  );

  // By userPrincipalName: the SDK sends the '@' as is.
  const byUpn = png(100, 100, 0x60);
  await client.api(`/users/${ADELE_UPN}/photo/$value`).put(byUpn);
  check(true, `api('/users/${ADELE_UPN}/photo/$value').put(buffer)`);
  const readBack = await bytesOf(await client.api(`/users/${ADELE_ID}/photo/$value`).get());
  check(readBack.equals(byUpn), "the photo uploaded by UPN is the one read back by id");

  // Someone else's photo with User.ReadWrite only: 403.
  const denied = await expectGraphError(
    client.api(`/users/${ALEX_UPN}/photo/$value`).put(photo),
    403,
    "ErrorAccessDenied",
    "another user's photo",
  );
  check(UUID.test(denied.requestId || ""), `the 403 carries the request-id ${denied.requestId}`);
  check(Boolean(denied.message), `the 403 carries a message: ${JSON.stringify(denied.message)}`);

  await expectGraphError(
    client.api("/me/photo/$value").put(Buffer.from("this is not an image")),
    400,
    "ErrorInvalidImage",
    "a body that is not an image",
  );

  await client.api("/me/photo").delete();
  check(true, "api('/me/photo').delete()");
  const gone = await expectGraphError(
    client.api("/me/photo").get(),
    404,
    "ErrorEntityNotFound",
    "metadata after the delete",
  );
  check(gone.message === "The photo wasn't found.", `the 404 message: ${JSON.stringify(gone.message)}`);

  // A contact in a contact folder; both ids end in '=' and go out raw.
  const contact = png(64, 64, 0x90);
  const contactPath = `/me/contactFolders/${FRIENDS_FOLDER_ID}/contacts/${FOLDER_CONTACT_ID}/photo`;
  await client.api(`${contactPath}/$value`).put(contact);
  check(true, `api('${contactPath}/$value').put(buffer)`);
  const contactMeta = await client.api(contactPath).get();
  check(contactMeta.id === "64x64", `the contact photo's metadata: id=${contactMeta.id}`);
  const contactData = await bytesOf(await client.api(`${contactPath}/$value`).get());
  check(contactData.equals(contact), "the contact photo's bytes");
}

const [base, token] = process.argv.slice(2);
if (!base || !token) {
  console.error("usage: node js_sdk_check.mjs BASE TOKEN  (e.g. https://127.0.0.1:8443 $TOKEN)");
  process.exit(2);
}
try {
  await main(base, token);
  console.log("js @microsoft/microsoft-graph-client: all checks passed");
} catch (error) {
  console.error(`FAILED - ${error instanceof CheckFailed ? error.message : error.stack || error}`);
  process.exit(1);
}
