-- A put in one round trip: the write, and the purge of the other versions' renditions, in the
-- statement's own transaction. Before this, a put was four round trips (BEGIN, write, purge,
-- COMMIT); the semantics are the same:
-- * the write is the unconditional upsert, or the conditional UPDATE whose WHERE holds the
--   precondition (NULL tags: any stored photo), re-checked by PostgreSQL on the row a
--   concurrent writer left, so of N writers holding one tag exactly one writes;
-- * the purge is a statement of its own: a VOLATILE plpgsql function takes a new snapshot per
--   statement under READ COMMITTED, so it sees renditions a concurrent rendition put committed
--   while the write waited for the row lock (as the separate statement did before).
-- Returns whether the photo was written (false: the precondition did not hold).
CREATE FUNCTION graph_photo_put(
    p_tenant text, p_kind text, p_owner text, p_contact text,
    p_bytes bytea, p_format text, p_width integer, p_height integer, p_etag text,
    p_conditional boolean, p_tags text[]
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    written integer;
BEGIN
    IF p_conditional THEN
        UPDATE photos
        SET bytes = p_bytes, format = p_format, width = p_width, height = p_height, etag = p_etag
        WHERE tenant = p_tenant AND owner_kind = p_kind AND owner_id = p_owner
          AND contact_id = p_contact
          AND (p_tags IS NULL OR etag = ANY(p_tags));
    ELSE
        INSERT INTO photos (tenant, owner_kind, owner_id, contact_id, bytes, format, width, height, etag)
        VALUES (p_tenant, p_kind, p_owner, p_contact, p_bytes, p_format, p_width, p_height, p_etag)
        ON CONFLICT (tenant, owner_kind, owner_id, contact_id) DO UPDATE
        SET bytes = EXCLUDED.bytes, format = EXCLUDED.format, width = EXCLUDED.width,
            height = EXCLUDED.height, etag = EXCLUDED.etag;
    END IF;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written = 0 THEN
        RETURN false;
    END IF;
    DELETE FROM renditions
    WHERE tenant = p_tenant AND owner_kind = p_kind AND owner_id = p_owner
      AND contact_id = p_contact AND etag <> p_etag;
    RETURN true;
END
$$;
