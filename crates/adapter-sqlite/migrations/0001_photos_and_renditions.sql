-- Schema version 1: photos and their renditions, in one file.
--
-- photos: one row per photo key. The key is (tenant, owner_kind, owner_id, contact_id):
--   a user's photo is ('user', user id, ''), a group's ('group', group id, ''), a contact's
--   ('contact', owning user's id, contact id). contact_id is '' rather than NULL because NULLs
--   are distinct in a UNIQUE constraint, which would let one user or group hold two rows.
--   Bytes, format, displayed size and ETag sit in one row, so a single statement writes them
--   together and no reader can see a mix of two versions. The ETag is the one validation
--   computed from the bytes (content-derived), stored, never recomputed here.
--   bytes is the last column on purpose: SQLite reads a row's columns in order, so reading
--   etag (the hot-cache validation) stops before the blob's overflow pages.
--   A rowid table (not WITHOUT ROWID) because rows hold blobs of up to 4 MiB; the rowid `id`
--   is what renditions point to, and stays the same when a photo is replaced in place.
CREATE TABLE photos (
    id          INTEGER PRIMARY KEY,
    tenant      TEXT    NOT NULL,
    owner_kind  TEXT    NOT NULL CHECK (owner_kind IN ('user', 'group', 'contact')),
    owner_id    TEXT    NOT NULL,
    contact_id  TEXT    NOT NULL DEFAULT '',
    format      TEXT    NOT NULL CHECK (format IN ('jpeg', 'png', 'gif', 'bmp')),
    width       INTEGER NOT NULL CHECK (width >= 0),
    height      INTEGER NOT NULL CHECK (height >= 0),
    etag        TEXT    NOT NULL,
    bytes       BLOB    NOT NULL,
    UNIQUE (tenant, owner_kind, owner_id, contact_id)
);

-- rendition_sets: that the sizes of one photo version were rendered, keyed by the photo
--   (its row) and the ETag of the original they were made from. A set may hold no rendition
--   at all (an original under 48 px): the row says "rendered, nothing to serve", so it is not
--   rendered again. One set per photo: a set is only stored while its photo is at that
--   version, and replacing the photo deletes the sets of other versions in the same
--   transaction (trigger photo_replaced); deleting the photo cascades.
CREATE TABLE rendition_sets (
    photo_id INTEGER PRIMARY KEY REFERENCES photos (id) ON DELETE CASCADE,
    etag     TEXT    NOT NULL
);

-- A new version of a photo makes the renditions of the old one useless: they go in the same
--   statement that replaces the photo (so in its transaction), whoever writes it.
CREATE TRIGGER photo_replaced AFTER UPDATE OF etag ON photos
    WHEN OLD.etag IS NOT NEW.etag
BEGIN
    DELETE FROM rendition_sets WHERE photo_id = NEW.id;
END;

-- renditions: the encoded squares of a set, by side. The key of a rendition is thus
--   (photo key, original's etag, side), through its set. A rowid table too: PNG squares can
--   be megabytes, and WITHOUT ROWID tables are for small rows.
CREATE TABLE renditions (
    photo_id INTEGER NOT NULL REFERENCES rendition_sets (photo_id) ON DELETE CASCADE,
    side     INTEGER NOT NULL CHECK (side > 0),
    format   TEXT    NOT NULL CHECK (format IN ('jpeg', 'png')),
    bytes    BLOB    NOT NULL,
    PRIMARY KEY (photo_id, side)
);
