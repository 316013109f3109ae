"""The running service and its mail edges: lifecycle, SMTP ingress, inbound store, outbound delivery."""
