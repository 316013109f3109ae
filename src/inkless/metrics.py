"""Prometheus metrics of the running service (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SMTP_REPLIES = Counter("inkless_smtp_replies_total", "SMTP replies by command and code class",
                       ["command", "code"], registry=REGISTRY)
INBOUND_STORED = Counter("inkless_inbound_stored_total", "Messages accepted and durably stored",
                         ["source"], registry=REGISTRY)
INBOUND_PROCESSED = Counter("inkless_inbound_processed_total", "Stored messages processed, by outcome",
                            ["outcome"], registry=REGISTRY)
PROCESSING_SECONDS = Histogram("inkless_processing_seconds", "Time to process one stored message",
                               registry=REGISTRY)
OUTBOUND = Counter("inkless_outbound_total", "Outbound delivery attempts, by result (sent, retry, failed)",
                   ["result"], registry=REGISTRY)
QUEUE_DEPTH = Gauge("inkless_queue_depth", "Rows waiting or stuck, by queue", ["queue"], registry=REGISTRY)

# Children bound once: the SMTP edge counts every command, and labels() costs a lookup.
SMTP_RCPT = {code: SMTP_REPLIES.labels("RCPT", code) for code in "2345"}
SMTP_DATA = {code: SMTP_REPLIES.labels("DATA", code) for code in "2345"}
STORED_SMTP = INBOUND_STORED.labels("smtp")
IMAP_FETCHED = Counter("inkless_imap_fetched_total", "Messages read from IMAP mailboxes and stored",
                       ["mailbox"], registry=REGISTRY)
IMAP_ERRORS = Counter("inkless_imap_errors_total", "IMAP connection and protocol errors", ["mailbox"],
                      registry=REGISTRY)
IMAP_RECONNECTS = Counter("inkless_imap_reconnects_total", "IMAP reconnection attempts", ["mailbox"],
                          registry=REGISTRY)
