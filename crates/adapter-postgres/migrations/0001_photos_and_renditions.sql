-- graph-photo schema version 1: photos and their renditions.
--
-- Never edit this file once released: sqlx records its checksum, and a database migrated with
-- another text refuses to open. Changes go in a new, higher-numbered file.

-- One row per photo key. The original and everything describing it live in one row, so one
-- UPDATE changes bytes, format, size and tag together (nobody reads a mix of two versions).
CREATE TABLE photos (
    tenant      TEXT    NOT NULL,
    owner_kind  TEXT    NOT NULL CHECK (owner_kind IN ('user', 'group', 'contact')),
    -- The user or group; for a contact, the user who owns it.
    owner_id    TEXT    NOT NULL,
    -- The contact, '' for users and groups (a primary key column cannot be NULL).
    contact_id  TEXT    NOT NULL DEFAULT '',
    bytes       BYTEA   NOT NULL,
    format      TEXT    NOT NULL CHECK (format IN ('jpeg', 'png', 'gif', 'bmp')),
    width       INTEGER NOT NULL CHECK (width >= 0),
    height      INTEGER NOT NULL CHECK (height >= 0),
    etag        TEXT    NOT NULL,
    PRIMARY KEY (tenant, owner_kind, owner_id, contact_id),
    CHECK ((owner_kind = 'contact') = (contact_id <> ''))
);

-- The rendered squares of one version (etag) of a photo. The foreign key's cascade removes
-- them with the photo, in the deleting statement itself.
CREATE TABLE renditions (
    tenant      TEXT    NOT NULL,
    owner_kind  TEXT    NOT NULL,
    owner_id    TEXT    NOT NULL,
    contact_id  TEXT    NOT NULL,
    etag        TEXT    NOT NULL,
    side        INTEGER NOT NULL CHECK (side > 0),
    format      TEXT    NOT NULL CHECK (format IN ('jpeg', 'png')),
    bytes       BYTEA   NOT NULL,
    PRIMARY KEY (tenant, owner_kind, owner_id, contact_id, etag, side),
    FOREIGN KEY (tenant, owner_kind, owner_id, contact_id)
        REFERENCES photos (tenant, owner_kind, owner_id, contact_id) ON DELETE CASCADE
);

-- Images are already compressed (JPEG, PNG, GIF): out of line without TOAST's compression
-- attempt, which would spend CPU on every write to save nothing.
ALTER TABLE photos ALTER COLUMN bytes SET STORAGE EXTERNAL;
ALTER TABLE renditions ALTER COLUMN bytes SET STORAGE EXTERNAL;
