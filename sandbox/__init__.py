"""Local HTTPS emulator of the Salesforce REST API (v59.0) and the Pardot API v5 (see server.py)."""
