"""The data directory and the database: connections, the writer, migrations, backups."""
