-- Issue 11: a visitor's earlier conversations are found through other visitors of the tenant
-- with the same email (any case) or phone (E.164). Only SMS/WhatsApp contacts had a phone index
-- (a partial one), and emails none, so without these the lookup scans every visitor.
CREATE INDEX visitors_email ON visitors (tenant_id, email COLLATE NOCASE) WHERE email IS NOT NULL;
CREATE INDEX visitors_phone ON visitors (tenant_id, phone) WHERE phone IS NOT NULL;
