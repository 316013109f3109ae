"""The `inkless` command line, one module per group of commands. Every user error prints one
line and exits with status 2 (cli/common.py)."""

from __future__ import annotations

import click

from inkless import logs
from inkless.cli.access import api_token, feed_url, link_code
from inkless.cli.documents import doc, reply
from inkless.cli.schedule import event, task
from inkless.cli.service import check, db, init, org, serve


@click.group()
@click.version_option(package_name="inkless")
def main() -> None:
    """Inkless: documents, sign-off, receipts and schedules over mail, calendars and chat."""
    logs.configure()


for command in (init, serve, db, org, check, api_token, feed_url, link_code, doc, reply, task, event):
    main.add_command(command)
