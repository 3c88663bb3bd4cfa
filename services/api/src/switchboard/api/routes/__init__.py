"""HTTP routes of the API service."""
