"""Mail formats: parsing inbound messages and composing outbound ones (no I/O)."""
