"""The dashboard and JSON API: reads the catalogue and storage, never the server's objects."""
