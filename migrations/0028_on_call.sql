-- Issue 14: the on-call rota. Per site and window (by its name), the next contact in turn:
-- the window's nth alert goes to numbers[n mod len] and emails[n mod len]. Advanced in the
-- alert's own transaction. The flat `alert_numbers`/`alert_emails` settings stay as they are:
-- they are the fallback when no window covers the moment, so no number is lost.
CREATE TABLE on_call_positions (
    site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    window_name TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site_id, window_name)
);
