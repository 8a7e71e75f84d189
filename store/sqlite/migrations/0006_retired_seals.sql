-- A master-key rotation (latchkey rotate-master-key) ends by marking the
-- old key retired: a meta row named 'retired_seal_key:' and the hex of the
-- header that begins every value sealed under that key (the format byte and
-- the key's id; see secret.SealHeaderLen). From then on these triggers
-- refuse, inside the writing transaction, a key secret or webhook secret
-- sealed under a retired key: a server that has not yet heard that the
-- rotation finished cannot store a secret no server could open any more.
-- The transaction fails and stores nothing; the server learns the new key
-- and tries again. Values sealed before headers existed have none, and
-- their first bytes are random: they match no marker.
CREATE TRIGGER key_secrets_refuse_retired_seal_insert BEFORE INSERT ON key_secrets
WHEN EXISTS (SELECT 1 FROM meta WHERE name = 'retired_seal_key:' || hex(substr(NEW.sealed, 1, 9)))
BEGIN
    SELECT RAISE(ABORT, 'latchkey: a secret sealed under a retired master key');
END;
CREATE TRIGGER key_secrets_refuse_retired_seal_update BEFORE UPDATE OF sealed ON key_secrets
WHEN EXISTS (SELECT 1 FROM meta WHERE name = 'retired_seal_key:' || hex(substr(NEW.sealed, 1, 9)))
BEGIN
    SELECT RAISE(ABORT, 'latchkey: a secret sealed under a retired master key');
END;
CREATE TRIGGER webhooks_refuse_retired_seal_insert BEFORE INSERT ON webhooks
WHEN EXISTS (SELECT 1 FROM meta WHERE name = 'retired_seal_key:' || hex(substr(NEW.secret_sealed, 1, 9)))
BEGIN
    SELECT RAISE(ABORT, 'latchkey: a secret sealed under a retired master key');
END;
CREATE TRIGGER webhooks_refuse_retired_seal_update BEFORE UPDATE OF secret_sealed ON webhooks
WHEN EXISTS (SELECT 1 FROM meta WHERE name = 'retired_seal_key:' || hex(substr(NEW.secret_sealed, 1, 9)))
BEGIN
    SELECT RAISE(ABORT, 'latchkey: a secret sealed under a retired master key');
END;
