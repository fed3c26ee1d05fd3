-- People search (issue 11): the inbox search box finds visitors by name, email and phone, and
-- the follow-ups they left (name, email, phone, message), by word prefix. These rows change
-- rarely (a visitor identifies, a follow-up is left), so triggers keep the indexes in step.

-- What is indexed for a visitor or follow-up. A phone (E.164) is indexed as its digits and every
-- suffix of at least 4 digits, so a prefix query on digits finds the number however it was
-- typed: "+44 161 496", "0161 496" (the trunk 0 dropped) or "496 0000".
CREATE VIEW visitor_search AS
SELECT id, COALESCE(name, '') AS name, COALESCE(email, '') AS email,
    COALESCE(replace(phone, '+', ''), '')
        || CASE WHEN length(replace(phone, '+', '')) - 1 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 2) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 2 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 3) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 3 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 4) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 4 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 5) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 5 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 6) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 6 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 7) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 7 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 8) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 8 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 9) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 9 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 10) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 10 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 11) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 11 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 12) ELSE '' END AS phone
FROM visitors;

CREATE VIEW followup_search AS
SELECT id, name, email,
    COALESCE(replace(phone, '+', ''), '')
        || CASE WHEN length(replace(phone, '+', '')) - 1 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 2) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 2 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 3) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 3 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 4) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 4 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 5) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 5 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 6) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 6 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 7) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 7 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 8) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 8 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 9) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 9 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 10) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 10 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 11) ELSE '' END
        || CASE WHEN length(replace(phone, '+', '')) - 11 >= 4 THEN ' ' || substr(replace(phone, '+', ''), 12) ELSE '' END AS phone,
    message
FROM followups;

CREATE VIRTUAL TABLE visitors_fts USING fts5 (
    name, email, phone,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE VIRTUAL TABLE followups_fts USING fts5 (
    name, email, phone, message,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

-- Anonymous widget visitors (most rows) have nothing to find; they enter when they identify.
CREATE TRIGGER visitors_fts_insert AFTER INSERT ON visitors
WHEN COALESCE(new.name, new.email, new.phone) IS NOT NULL
BEGIN
    INSERT INTO visitors_fts (rowid, name, email, phone)
    SELECT id, name, email, phone FROM visitor_search WHERE id = new.id;
END;

CREATE TRIGGER visitors_fts_update AFTER UPDATE OF name, email, phone ON visitors
WHEN new.name IS NOT old.name OR new.email IS NOT old.email OR new.phone IS NOT old.phone
BEGIN
    DELETE FROM visitors_fts WHERE rowid = old.id;
    INSERT INTO visitors_fts (rowid, name, email, phone)
    SELECT id, name, email, phone FROM visitor_search
    WHERE id = new.id AND COALESCE(new.name, new.email, new.phone) IS NOT NULL;
END;

CREATE TRIGGER visitors_fts_delete AFTER DELETE ON visitors
BEGIN
    DELETE FROM visitors_fts WHERE rowid = old.id;
END;

CREATE TRIGGER followups_fts_insert AFTER INSERT ON followups
BEGIN
    INSERT INTO followups_fts (rowid, name, email, phone, message)
    SELECT id, name, email, phone, message FROM followup_search WHERE id = new.id;
END;

CREATE TRIGGER followups_fts_delete AFTER DELETE ON followups
BEGIN
    DELETE FROM followups_fts WHERE rowid = old.id;
END;

-- The people and follow-ups stored before this migration.
INSERT INTO visitors_fts (rowid, name, email, phone)
SELECT s.id, s.name, s.email, s.phone FROM visitor_search s JOIN visitors v ON v.id = s.id
WHERE COALESCE(v.name, v.email, v.phone) IS NOT NULL;

INSERT INTO followups_fts (rowid, name, email, phone, message)
SELECT id, name, email, phone, message FROM followup_search;
