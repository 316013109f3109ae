"""The web side: health and metrics, the JSON API, and (later) the pages."""
