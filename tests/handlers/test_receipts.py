"""Receipts (§2 item 3, item 4) over real SMTP: every receipt time of a copy is set by its
real trigger and never by the wrong one.

fin-clerk@ sends a document to edu@ (finance has no approvers, so it is issued at once).
Each return below is built from the copy captured at the relay, in the format the real
sender writes (Postfix, Exim, qmail, Exchange, Office 365, Thunderbird, Foxmail, Outlook),
and sent in through Inkless's SMTP port to the address that copy names: DSNs to the
envelope sender (bounce+…, from <>), MDNs to Disposition-Notification-To (receipt+…,
from <>), replies to Reply-To (reply+…). The outcome is read through the JSON API.
"""

from __future__ import annotations

import base64
import quopri
from dataclasses import dataclass
from email import message_from_bytes
from email.header import Header
from email.message import EmailMessage
from email.policy import compat32
from email.utils import parseaddr
from typing import Any, cast

import aiohttp
import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.storage.models import InboundMessage
from tests.conftest import (
    DOMAIN,
    Captured,
    CaptureRelay,
    simple_mail,
    smtp_send,
    wait_for,
)

SENDER = "fin-clerk@test.gov"
STAFF, CLERK, SHARED = "edu-staff@test.gov", "edu-clerk@test.gov", "shared@test.gov"
NAMES = {STAFF: "钱老师", CLERK: "郑干事", SHARED: "两边都在"}
TITLE = "[函] 关于报送2026年度预算执行情况的函"
TIMES = ("delivered_at", "read_at", "acknowledged_at")


def _b64(text: str, charset: str) -> str:
    return base64.encodebytes(text.replace("\n", "\r\n").encode(charset)).decode("ascii").rstrip("\n")


def _word(text: str, charset: str = "utf-8") -> str:
    """An RFC 2047 header value, folded, as clients write non-ASCII headers."""
    return Header(text, charset).encode(maxlinelen=76)


def _outlook_html(new_text: str, quoted_from: str, subject: str, original: str) -> str:
    """The HTML part Outlook 2016 (Word) writes for a reply, original quoted below a rule."""
    body = "<br>\n".join(original.splitlines())
    return (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">\n'
        '<head>\n<meta http-equiv="Content-Type" content="text/html; charset=gb2312">\n'
        '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n</head>\n'
        '<body lang="ZH-CN" link="#0563C1" vlink="#954F72">\n<div class="WordSection1">\n'
        f'<p class="MsoNormal">{new_text}<span lang="EN-US"><o:p></o:p></span></p>\n'
        '<p class="MsoNormal"><span lang="EN-US"><o:p>&nbsp;</o:p></span></p>\n<div>\n'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
        f'<p class="MsoNormal"><b>发件人<span lang="EN-US">:</span></b><span lang="EN-US"> {quoted_from}<br>\n'
        '</span><b>发送时间<span lang="EN-US">:</span></b><span lang="EN-US"> 2026年11月27日 10:15<br>\n'
        f'</span><b>收件人<span lang="EN-US">:</span></b> 钱老师 &lt;{STAFF}&gt;<br>\n'
        f'<b>主题<span lang="EN-US">:</span></b> {subject}<span lang="EN-US"><o:p></o:p></span></p>\n'
        f'</div>\n</div>\n<p class="MsoNormal">{body}</p>\n</div>\n</body>\n</html>\n'
    )


# Raw returns as their real writers produce them. Placeholders come from the captured copy
# (see `fields`): {bounce} its envelope sender, {rcpt} the address reported on, {message_id}
# the copy's Message-ID, {receipt_to}/{reply_to} its return headers, {headers} its header
# section, {original} the whole copy; the rest are derived texts.
SAMPLES: dict[str, str] = {
    # Postfix 3.7 bounce(8), checked against a real Postfix 3.7.11: rejected at the remote MX's
    # RCPT, headers only returned (RET=HDRS); Postfix folds the Diagnostic-Code at 80 columns.
    "postfix": """\
Received: by smtp.test.gov (Postfix)
	id 9B5EA1A0535; Fri, 27 Nov 2026 10:15:02 +0800 (CST)
Date: Fri, 27 Nov 2026 10:15:02 +0800 (CST)
From: Mail Delivery System <MAILER-DAEMON@test.gov>
Subject: Undelivered Mail Returned to Sender
To: {bounce}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4C2A11A0532.1795232102/smtp.test.gov"
Content-Transfer-Encoding: 8bit
Message-Id: <20261127021502.9B5EA1A0535@smtp.test.gov>

This is a MIME-encapsulated message.

--4C2A11A0532.1795232102/smtp.test.gov
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host smtp.test.gov.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{rcpt}>: host mx.test.gov[192.0.2.25] said: 550 5.1.1
    <{rcpt}>: Recipient address rejected: User unknown in local
    recipient table (in reply to RCPT TO command)

--4C2A11A0532.1795232102/smtp.test.gov
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; smtp.test.gov
X-Postfix-Queue-ID: 4C2A11A0532
X-Postfix-Sender: rfc822; {bounce}
Arrival-Date: Fri, 27 Nov 2026 10:15:01 +0800 (CST)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.test.gov
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address
    rejected: User unknown in local recipient table

--4C2A11A0532.1795232102/smtp.test.gov
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <{bounce}>
Received: from oa.test.gov (oa.test.gov [192.0.2.10])
	by smtp.test.gov (Postfix) with ESMTP id 4C2A11A0532
	for <{rcpt}>; Fri, 27 Nov 2026 10:15:01 +0800 (CST)
{headers}

--4C2A11A0532.1795232102/smtp.test.gov--
""",
    # Exim 4.96 (modelled on a real one): RFC 3464 multipart/report with X-Failed-Recipients
    # and the whole message returned; the per-recipient block starts with Action, no space
    # after "rfc822;".
    "exim": """\
Received: from mailnull by mx.test.gov with local (Exim 4.96)
	id 1qVU6E-002zk4-1y
	for {bounce};
	Fri, 27 Nov 2026 10:15:02 +0800
X-Failed-Recipients: {rcpt}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.test.gov>
To: {bounce}
References: {message_id}
Content-Type: multipart/report; report-type=delivery-status; boundary=1795232102-eximdsn-1398251168
MIME-Version: 1.0
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1qVU6E-002zk4-1y@mx.test.gov>
Date: Fri, 27 Nov 2026 10:15:02 +0800

--1795232102-eximdsn-1398251168
Content-type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {rcpt}
    host mx.test.gov [192.0.2.25]
    SMTP error from remote mail server after RCPT TO:<{rcpt}>:
    550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table

--1795232102-eximdsn-1398251168
Content-type: message/delivery-status

Reporting-MTA: dns; mx.test.gov

Action: failed
Final-Recipient: rfc822;{rcpt}
Status: 5.0.0
Remote-MTA: dns; mx.test.gov
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table

--1795232102-eximdsn-1398251168
Content-type: message/rfc822

Return-path: <{bounce}>
Received: from [192.0.2.10] (helo=oa.test.gov)
	by mx.test.gov with esmtp (Exim 4.96)
	(envelope-from <{bounce}>)
	id 1qVU6C-002zPF-05
	for {rcpt};
	Fri, 27 Nov 2026 10:15:01 +0800
{original}

--1795232102-eximdsn-1398251168--
""",
    # Older Exim (4.7x, before its bounces became multipart/report; still found on old
    # appliances): plain text, no report part; only X-Failed-Recipients and the wording
    # identify it (flufl.bounce's Exim detector).
    "exim-plain": """\
Received: from mailnull by mx.test.gov with local (Exim 4.72)
	id 1KO7Zr-0002zt-Ge
	for {bounce}; Fri, 27 Nov 2026 10:15:02 +0800
X-Failed-Recipients: {rcpt}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.test.gov>
To: {bounce}
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1KO7Zr-0002zt-Ge@mx.test.gov>
Date: Fri, 27 Nov 2026 10:15:02 +0800

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {rcpt}
    SMTP error from remote mail server after RCPT TO:<{rcpt}>:
    host mx.test.gov [192.0.2.25]: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table

------ This is a copy of the message, including all the headers. ------

Return-path: <{bounce}>
Received: from [192.0.2.10] (helo=oa.test.gov)
	by mx.test.gov with esmtp (Exim 4.72)
	(envelope-from <{bounce}>)
	id 1KO7Zq-0002zq-El
	for {rcpt}; Fri, 27 Nov 2026 10:15:01 +0800
{original}
""",
    # qmail-send (QSBMF), plain text.
    "qmail": """\
Received: (qmail 21433 invoked for bounce); 27 Nov 2026 02:15:02 -0000
Date: 27 Nov 2026 02:15:02 -0000
From: MAILER-DAEMON@mx.test.gov
To: {bounce}
Subject: failure notice

Hi. This is the qmail-send program at mx.test.gov.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{rcpt}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <{bounce}>
Received: (qmail 21430 invoked from network); 27 Nov 2026 02:15:01 -0000
Received: from oa.test.gov (192.0.2.10)
  by mx.test.gov with SMTP; 27 Nov 2026 02:15:01 -0000
{original}
""",
    # Exchange Server 2016 on-premises NDR: "Delivery has failed to these recipients or groups".
    "exchange": """\
Received: from EX01.test.gov (192.0.2.30) by EX01.test.gov (192.0.2.30) with
 Microsoft SMTP Server id 15.1.2507.35; Fri, 27 Nov 2026 10:15:02 +0800
From: <postmaster@test.gov>
To: <{bounce}>
Date: Fri, 27 Nov 2026 10:15:02 +0800
Content-Type: multipart/report; report-type=delivery-status;
	boundary="3a8ef4a8-62c2-4f0a-9a4b-7f1c2e0a6b5d"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: zh-CN
Message-ID: <6c0f2b1e-5e2a-4b8e-9d9b-2a1f0c3d4e5f@EX01.test.gov>
In-Reply-To: {message_id}
References: {message_id}
Thread-Index: AQHZ1mKc3GqLk2v8R0aVb3p5dX2N7Q==
Subject: Undeliverable: {subject_raw}
Auto-Submitted: auto-replied
MIME-Version: 1.0

--3a8ef4a8-62c2-4f0a-9a4b-7f1c2e0a6b5d
Content-Type: multipart/alternative; differences=Content-Type;
	boundary="d2f1e0c9-b8a7-4654-9382-71605f4e3d2c"

--d2f1e0c9-b8a7-4654-9382-71605f4e3d2c
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Delivery has failed to these recipients or groups:

{rcpt} ({rcpt})<mailto:{rcpt}>
The email address you entered couldn't be found. Please check the recipien=
t's email address and try to resend the message. If the problem continues,=
 please contact your helpdesk.






Diagnostic information for administrators:

Generating server: EX01.test.gov

{rcpt}
Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'

Original message headers:

{headers_qp}

--d2f1e0c9-b8a7-4654-9382-71605f4e3d2c
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html>
<head>
<meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dus-ascii">
</head>
<body>
<p><b><font color=3D"#000066" size=3D"3" face=3D"Arial">Delivery has failed=
 to these recipients or groups:</font></b></p>
<font color=3D"#000000" size=3D"2" face=3D"Tahoma"><p><a href=3D"mailto:{rcpt}">{rcpt} ({rcpt})</a><br>
The email address you entered couldn't be found. Please check the recipient=
's email address and try to resend the message. If the problem continues, p=
lease contact your helpdesk.<br>
</p>
</font>
</body>
</html>

--d2f1e0c9-b8a7-4654-9382-71605f4e3d2c--

--3a8ef4a8-62c2-4f0a-9a4b-7f1c2e0a6b5d
Content-Type: message/delivery-status

Reporting-MTA: dns;EX01.test.gov
Received-From-MTA: dns;smtp.test.gov
Arrival-Date: Fri, 27 Nov 2026 02:15:01 +0000

Original-Recipient: rfc822;{rcpt}
Final-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp;550 5.1.1 RESOLVER.ADR.RecipNotFound; not found

--3a8ef4a8-62c2-4f0a-9a4b-7f1c2e0a6b5d
Content-Type: text/rfc822-headers

{headers}

--3a8ef4a8-62c2-4f0a-9a4b-7f1c2e0a6b5d--
""",
    # Exchange Online (Office 365) NDR, modelled on a real one (shortened human text): folded
    # Message-ID, text + HTML alternative, X-Display-Name, the whole original returned.
    "office365": """\
From: <postmaster@test.gov>
To: <{bounce}>
Date: Fri, 27 Nov 2026 02:15:15 +0000
Content-Type: multipart/report; report-type=delivery-status;
	boundary="bd9cc21f-0e60-428c-a218-1caeda839964"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: en-US
Message-ID:
 <733ca061-54d7-4139-90ed-f5d565a46ddf@HK2PR02MB4012.apcprd02.prod.outlook.com>
In-Reply-To: {message_id}
References: {message_id}
Subject: Undeliverable: {subject_raw}
Auto-Submitted: auto-replied
X-MS-PublicTrafficType: Email
X-MS-Exchange-CrossTenant-Network-Message-Id:
	bd0d26c1-dd67-41da-9129-08da92c88589
MIME-Version: 1.0

--bd9cc21f-0e60-428c-a218-1caeda839964
Content-Type: multipart/alternative; differences=Content-Type;
	boundary="0626feff-75ff-4662-bf00-fec84a4483de"

--0626feff-75ff-4662-bf00-fec84a4483de
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

[https://products.office.com/en-us/CMSImages/Office365Logo_Orange.png?versi=
on=3Db8d100a9-0a8b-8e6a-88e1-ef488fee0470]
Your message to {rcpt} couldn't be delivered.
{local} wasn't found at test.gov.
finance  Office 365      {local}
Action Required                 Recipient
Unknown To address

How to Fix It
The address may be misspelled or may not exist. Try one or more of the foll=
owing:

More Info for Email Admins
Status code: 550 5.1.10

Original Message Details
Sender Address: {bounce}
Recipient Address:      {rcpt}

Error Details
Reported error: 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {rcpt} n=
ot found by SMTP address lookup
DSN generated by:       HK2PR02MB4012.apcprd02.prod.outlook.com

Original Message Headers

{headers_qp}

--0626feff-75ff-4662-bf00-fec84a4483de
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html>
  <head>
    <title>
          DSN
        </title>
  </head>
  <body style=3D"background-color: white;">
    <p>Your message to <span style=3D"color: #0072c6;">{rcpt}</span> couldn=
't be delivered.<br /></p>
    <p><em>550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {rcpt} not =
found by SMTP address lookup</em></p>
  </body>
</html>
--0626feff-75ff-4662-bf00-fec84a4483de--

--bd9cc21f-0e60-428c-a218-1caeda839964
Content-Type: message/delivery-status

Reporting-MTA: dns;HK2PR02MB4012.apcprd02.prod.outlook.com
Received-From-MTA: dns;smtp.test.gov
Arrival-Date: Fri, 27 Nov 2026 02:15:14 +0000

Final-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient {rcpt} not found by SMTP address lookup
X-Display-Name: {local}


--bd9cc21f-0e60-428c-a218-1caeda839964
Content-Type: message/rfc822

{original}

--bd9cc21f-0e60-428c-a218-1caeda839964--
""",
    # Postfix 3.7 "SUCCESS" report (NOTIFY=SUCCESS) from the recipient's own server, which
    # delivered into the mailbox itself (virtual(8)); a relay to a non-DSN host says "relayed".
    "postfix-delivered": """\
Received: by mail.test.gov (Postfix)
	id 3F1A2B4C5D6; Fri, 27 Nov 2026 10:15:03 +0800 (CST)
Date: Fri, 27 Nov 2026 10:15:03 +0800 (CST)
From: Mail Delivery System <MAILER-DAEMON@test.gov>
Subject: Successful Mail Delivery Report
To: {bounce}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="D7E8F9A0B1.1795232103/mail.test.gov"
Content-Transfer-Encoding: 8bit
Message-Id: <20261127021503.3F1A2B4C5D6@mail.test.gov>

This is a MIME-encapsulated message.

--D7E8F9A0B1.1795232103/mail.test.gov
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mail.test.gov.

Your message was successfully delivered to the destination(s)
listed below. If the message was delivered to mailbox you will
receive no further notifications. Otherwise you may still receive
notifications of mail delivery errors from other systems.

                   The mail system

<{rcpt}>: delivery via virtual: delivered to maildir

--D7E8F9A0B1.1795232103/mail.test.gov
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.test.gov
X-Postfix-Queue-ID: D7E8F9A0B1
X-Postfix-Sender: rfc822; {bounce}
Arrival-Date: Fri, 27 Nov 2026 10:15:02 +0800 (CST)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: delivered
Status: 2.0.0
Diagnostic-Code: X-Postfix; delivery via virtual: delivered to maildir

--D7E8F9A0B1.1795232103/mail.test.gov
Content-Description: Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <{bounce}>
Received: from smtp.test.gov (smtp.test.gov [192.0.2.20])
	by mail.test.gov (Postfix) with ESMTPS id D7E8F9A0B1
	for <{rcpt}>; Fri, 27 Nov 2026 10:15:02 +0800 (CST)
{headers}

--D7E8F9A0B1.1795232103/mail.test.gov--
""",
    # Postfix 3.7 delay warning (delay_warning_time = 4h): the remote MX is unreachable, the copy
    # is still queued and nothing is decided yet.
    "postfix-delayed": """\
Received: by smtp.test.gov (Postfix)
	id 7A1B2C3D4E5; Fri, 27 Nov 2026 14:15:09 +0800 (CST)
Date: Fri, 27 Nov 2026 14:15:09 +0800 (CST)
From: Mail Delivery System <MAILER-DAEMON@test.gov>
Subject: Delayed Mail (still being retried)
To: {bounce}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4C2A11A0532.1795246509/smtp.test.gov"
Content-Transfer-Encoding: 8bit
Message-Id: <20261127061509.7A1B2C3D4E5@smtp.test.gov>

This is a MIME-encapsulated message.

--4C2A11A0532.1795246509/smtp.test.gov
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host smtp.test.gov.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than 4 hour(s).
It will be retried until it is 5 day(s) old.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{rcpt}>: connect to mx.test.gov[192.0.2.25]:25: Connection timed out

--4C2A11A0532.1795246509/smtp.test.gov
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; smtp.test.gov
X-Postfix-Queue-ID: 4C2A11A0532
X-Postfix-Sender: rfc822; {bounce}
Arrival-Date: Fri, 27 Nov 2026 10:15:01 +0800 (CST)

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.test.gov[192.0.2.25]:25: Connection
    timed out
Will-Retry-Until: Wed,  2 Dec 2026 10:15:01 +0800 (CST)

--4C2A11A0532.1795246509/smtp.test.gov
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <{bounce}>
Received: from oa.test.gov (oa.test.gov [192.0.2.10])
	by smtp.test.gov (Postfix) with ESMTP id 4C2A11A0532
	for <{rcpt}>; Fri, 27 Nov 2026 10:15:01 +0800 (CST)
{headers}

--4C2A11A0532.1795246509/smtp.test.gov--
""",
    # Thunderbird (zh-CN) read receipt, RFC 8098: sent when the user agrees to send it.
    "thunderbird-mdn": """\
Date: Fri, 27 Nov 2026 10:20:31 +0800
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
From: {author_word} <{author}>
Subject: {mdn_subject}
To: {receipt_to}
Content-Type: multipart/report; report-type=disposition-notification;
 boundary="------------zXjKqD2hFh3v0S1vB3yR0Jq1"
Message-ID: <3b4e2a1c-7d9f-4f0e-8c1a-5e6b7a8c9d0e@test.gov>

This is a multi-part message in MIME format.
--------------zXjKqD2hFh3v0S1vB3yR0Jq1
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: base64

{mdn_text_b64}

--------------zXjKqD2hFh3v0S1vB3yR0Jq1
Content-Type: message/disposition-notification; name="MDNPart2.txt"
Content-Disposition: inline
Content-Transfer-Encoding: 7bit

Reporting-UA: test.gov; Mozilla Thunderbird
Final-Recipient: rfc822;{author}
Original-Message-ID: {original_message_id}
Disposition: manual-action/MDN-sent-manually; {disposition}

--------------zXjKqD2hFh3v0S1vB3yR0Jq1
Content-Type: text/rfc822-headers; name="MDNPart3.txt"
Content-Transfer-Encoding: 7bit
Content-Disposition: inline

Return-Path: <{bounce}>
Delivered-To: {rcpt}
Received: from smtp.test.gov (smtp.test.gov [192.0.2.20])
	by mail.test.gov (Postfix) with ESMTPS id D7E8F9A0B1
	for <{rcpt}>; Fri, 27 Nov 2026 10:15:02 +0800 (CST)
{headers}

--------------zXjKqD2hFh3v0S1vB3yR0Jq1--
""",
    # Foxmail's plain read receipt: an ordinary mail "已读：<subject>", no multipart/report.
    "foxmail-read": """\
Date: Fri, 27 Nov 2026 10:21:45 +0800
From: "{author_gb}" <{author}>
To: "{receipt_to}" <{receipt_to}>
Subject: {read_subject_gb}
X-Priority: 3
X-Has-Attach: no
X-Mailer: Foxmail 7.2.25.375[cn]
Mime-Version: 1.0
Message-ID: <202611271021453415820@test.gov>
Content-Type: text/plain;
	charset="GB2312"
Content-Transfer-Encoding: base64

{read_text_b64}
""",
    # Outlook 2016 (zh-CN) reply: GB2312-labelled text + HTML, "发件人: … [mailto:…]" quote header.
    "outlook-reply": """\
From: {author_gb} <{author}>
To: "{reply_to}" <{reply_to}>
Subject: {reply_subject_gb}
Thread-Topic: {thread_topic_gb}
Thread-Index: AQHZ1mKc3GqLk2v8R0aVb3p5dX2N7a4iZ9Rw
Date: Fri, 27 Nov 2026 02:23:10 +0000
Message-ID: <000001d7e1a3$4b2c1d90$e18458b0$@test.gov>
References: {message_id}
In-Reply-To: {message_id}
Accept-Language: zh-CN, en-US
Content-Language: zh-CN
X-MS-Has-Attach:
X-MS-TNEF-Correlator:
X-Mailer: Microsoft Outlook 16.0
{extra_headers}Content-Type: multipart/alternative;
	boundary="----=_NextPart_000_0001_01D7E1E6.594F5D90"
MIME-Version: 1.0

This is a multipart message in MIME format.

------=_NextPart_000_0001_01D7E1E6.594F5D90
Content-Type: text/plain;
	charset="gb2312"
Content-Transfer-Encoding: base64

{reply_text_b64}

------=_NextPart_000_0001_01D7E1E6.594F5D90
Content-Type: text/html;
	charset="gb2312"
Content-Transfer-Encoding: base64

{reply_html_b64}

------=_NextPart_000_0001_01D7E1E6.594F5D90--
""",
}
FAILURES = {"postfix": "5.1.1", "exim": "5.1.1", "exim-plain": "550 5.1.1", "qmail": "(#5.1.1)", "exchange": "5.1.1",
            "office365": "5.1.10"}


def fields(copy: Captured, *, author: str = STAFF, rcpt: str | None = None, new_text: str = "收到，谢谢",
           **extra: str) -> dict[str, str]:
    """Placeholder values for SAMPLES, taken from a copy captured at the relay."""
    message = cast(EmailMessage, copy.message)
    raw = message_from_bytes(copy.data, policy=compat32)
    data = copy.data.decode("ascii").replace("\r\n", "\n")
    headers = data.partition("\n\n")[0]
    subject = str(message["Subject"])
    text = cast(EmailMessage, message.get_body(("plain",))).get_content().replace("\r\n", "\n")
    unit = message["From"].addresses[0]
    quoted_from = f"{unit.display_name} [mailto:{unit.addr_spec}]"
    reply = (f"{new_text}\n\n发件人: {quoted_from} \n发送时间: 2026年11月27日 10:15\n"
             f"收件人: {NAMES[STAFF]} <{STAFF}>\n主题: {subject}\n\n{text}")
    mdn_text = (f"这是您发送至 {author} 的邮件的回执。\n\n注意：此回执仅确认邮件已在收件人的计算机上显示。"
                "不能保证收件人已阅读或理解邮件内容。\n")
    read_text = (f"您的邮件\n  收件人：{NAMES[author]} <{author}>\n  主题：{subject}\n"
                 "  时间：2026年11月27日(星期五) 上午10:15\n\n已经于 2026年11月27日(星期五) 上午10:21 被阅读\n")
    values = {
        "bounce": copy.mail_from,
        "rcpt": rcpt or copy.rcpt,
        "local": (rcpt or copy.rcpt).partition("@")[0],
        "message_id": str(message["Message-ID"]),
        "original_message_id": str(message["Message-ID"]),
        "reply_to": message["Reply-To"].addresses[0].addr_spec,
        "receipt_to": parseaddr(str(message["Disposition-Notification-To"]))[1],
        "subject_raw": str(raw["Subject"]),
        "headers": headers,
        "headers_qp": quopri.encodestring(headers.encode("ascii")).decode("ascii"),
        "original": data.rstrip("\n"),
        "author": author,
        "author_word": _word(NAMES[author]),
        "author_gb": _word(NAMES[author], "gb2312"),
        "disposition": "displayed",
        "extra_headers": "",
        "mdn_subject": _word(f"回执(已显示) - {subject}"),
        "mdn_text_b64": _b64(mdn_text, "utf-8"),
        "read_subject_gb": _word(f"已读：{subject}", "gb2312"),
        "read_text_b64": _b64(read_text, "gbk"),
        "reply_subject_gb": _word(f"答复: {subject}", "gb2312"),
        "thread_topic_gb": _word(subject, "gb2312"),
        "reply_text_b64": _b64(reply, "gbk"),
        "reply_html_b64": _b64(_outlook_html(new_text, quoted_from, subject, text), "gbk"),
    }
    values.update(extra)
    return values


def render(kind: str, values: dict[str, str]) -> bytes:
    return SAMPLES[kind].format(**values).replace("\n", "\r\n").encode("ascii")


# The flow -----------------------------------------------------------------------------------


@dataclass
class Issued:
    service: Service
    relay: CaptureRelay
    document_id: int
    before: dict[str, dict[str, Any]]

    def copy(self, rcpt: str) -> Captured:
        [copy] = self.relay.to(rcpt)
        return copy


async def api(service: Service, path: str) -> Any:
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"http://127.0.0.1:{service.web_port}{path}",
                                  headers={"Authorization": "Bearer static-test-token"})
        assert response.status == 200, await response.text()
        return await response.json()


async def receipts(service: Service, document_id: int) -> dict[str, dict[str, Any]]:
    document = await api(service, f"/api/v1/documents/{document_id}")
    return {row["email"]: row for row in document["recipients"]}


async def inbound(service: Service) -> list[InboundMessage]:
    """Every stored message, once none is still waiting or being processed."""
    assert service.sessions is not None

    async def settled() -> bool:
        async with service.sessions() as session:  # type: ignore[misc]
            statuses = (await session.scalars(select(InboundMessage.status))).all()
        return all(status not in ("new", "processing", "retry") for status in statuses)

    await wait_for(settled, what="inbound processing to finish")
    async with service.sessions() as session:
        return list((await session.scalars(select(InboundMessage).order_by(InboundMessage.id))).all())


@pytest.fixture
async def issued(service: Service, relay: CaptureRelay) -> Issued:
    raw = simple_mail(SENDER, f"edu@{DOMAIN}", TITLE, "请于12月10日前报送本单位2026年度预算执行情况。")
    assert (await smtp_send(service.smtp_port, SENDER, [f"edu@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: all(len(relay.to(r)) == 1 for r in (STAFF, CLERK, SHARED, SENDER)),
                   what="three copies and the issued notice at the relay")
    [document] = (await api(service, "/api/v1/documents"))["items"]

    async def all_sent() -> bool:
        rows = await receipts(service, document["id"])
        return set(rows) == {STAFF, CLERK, SHARED} and all(r["sent_at"] for r in rows.values())

    await wait_for(all_sent, what="sent_at on every copy")
    before = await receipts(service, document["id"])
    assert all(r[t] is None and not r["failed"] for r in before.values() for t in TIMES)
    return Issued(service, relay, document["id"], before)


async def send_in(issued: Issued, raw: bytes, rcpt: str, *, envelope: str = "") -> tuple[dict[str, dict[str, Any]],
                                                                                            InboundMessage]:
    """Send a return in over SMTP; wait until it is processed; the receipts and its inbound row."""
    reply = await smtp_send(issued.service.smtp_port, envelope, [rcpt], raw)
    assert reply.startswith("250"), reply
    rows = await inbound(issued.service)
    assert len(rows) == 2 and rows[-1].recipients == [rcpt]
    return await receipts(issued.service, issued.document_id), rows[-1]


def assert_untouched(issued: Issued, after: dict[str, dict[str, Any]], *emails: str) -> None:
    for email in emails or tuple(issued.before):
        assert after[email] == issued.before[email], f"{email}'s receipt changed"


# Delivery reports ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(FAILURES))
async def test_permanent_failure_report_marks_that_copy_failed(issued: Issued, kind: str) -> None:
    copy = issued.copy(STAFF)
    after, row = await send_in(issued, render(kind, fields(copy)), copy.mail_from)
    assert row.status == "done", row.reason
    staff = after[STAFF]
    assert staff["failed"] is True and staff["reason"], staff
    assert FAILURES[kind] in staff["reason"]
    # A failure is not a delivery, a reading or an acknowledgement.
    assert [staff[t] for t in TIMES] == [None, None, None]
    assert staff["sent_at"] == issued.before[STAFF]["sent_at"]
    assert_untouched(issued, after, CLERK, SHARED)


async def test_failure_reason_is_one_unfolded_line(issued: Issued) -> None:
    copy = issued.copy(STAFF)
    after, _row = await send_in(issued, render("postfix", fields(copy)), copy.mail_from)
    assert after[STAFF]["reason"] == ("5.1.1 550 5.1.1 <edu-staff@test.gov>: Recipient address rejected: "
                                      "User unknown in local recipient table")


async def test_success_report_sets_delivered_only(issued: Issued) -> None:
    copy = issued.copy(STAFF)
    after, row = await send_in(issued, render("postfix-delivered", fields(copy)), copy.mail_from)
    assert row.status == "done", row.reason
    staff = after[STAFF]
    assert staff["delivered_at"] is not None
    assert (staff["failed"], staff["reason"], staff["read_at"], staff["acknowledged_at"]) == (False, None, None, None)
    assert_untouched(issued, after, CLERK, SHARED)


async def test_delay_warning_changes_nothing(issued: Issued) -> None:
    copy = issued.copy(STAFF)
    after, row = await send_in(issued, render("postfix-delayed", fields(copy)), copy.mail_from)
    assert row.status == "done", row.reason
    assert_untouched(issued, after)


@pytest.mark.parametrize("kind", ["postfix", "exim-plain", "postfix-delivered"])
async def test_report_about_another_recipient_changes_nothing(issued: Issued, kind: str) -> None:
    # A report on shared@'s delivery arrives at edu-staff's bounce address.
    copy = issued.copy(STAFF)
    after, row = await send_in(issued, render(kind, fields(copy, rcpt=SHARED)), copy.mail_from)
    assert row.status == "discarded", (row.status, row.reason)
    assert SHARED in (row.reason or "")
    assert_untouched(issued, after)


# Read receipts ------------------------------------------------------------------------------


async def test_mdn_displayed_sets_read_and_delivered(issued: Issued) -> None:
    values = fields(issued.copy(STAFF))
    after, row = await send_in(issued, render("thunderbird-mdn", values), values["receipt_to"])
    assert row.status == "done", row.reason
    staff = after[STAFF]
    assert staff["read_at"] is not None and staff["delivered_at"] is not None
    assert (staff["acknowledged_at"], staff["failed"], staff["comment"]) == (None, False, None)
    assert_untouched(issued, after, CLERK, SHARED)


async def test_mdn_for_another_copy_changes_nothing(issued: Issued) -> None:
    # edu-staff's receipt address, but the MDN names shared@'s copy.
    copy, other = issued.copy(STAFF), issued.copy(SHARED)
    values = fields(copy, original_message_id=str(other.message["Message-ID"]))
    assert values["original_message_id"] != values["message_id"]
    after, row = await send_in(issued, render("thunderbird-mdn", values), values["receipt_to"])
    assert row.status == "discarded", (row.status, row.reason)
    assert_untouched(issued, after)


async def test_mdn_deleted_is_not_a_reading(issued: Issued) -> None:
    copy = issued.copy(STAFF)
    values = fields(copy, disposition="deleted", mdn_subject=_word("回执(已删除) - " + str(copy.message["Subject"])))
    after, row = await send_in(issued, render("thunderbird-mdn", values), values["receipt_to"])
    assert row.status == "done", row.reason
    assert_untouched(issued, after)


async def test_plain_read_receipt_from_someone_else_changes_nothing(issued: Issued) -> None:
    # edu-clerk's Foxmail answers a receipt request on a copy forwarded from edu-staff.
    values = fields(issued.copy(STAFF), author=CLERK)
    after, row = await send_in(issued, render("foxmail-read", values), values["receipt_to"], envelope=CLERK)
    assert row.status in ("discarded", "quarantined"), (row.status, row.reason)
    assert_untouched(issued, after)


async def test_foxmail_plain_read_receipt_sets_read(issued: Issued) -> None:
    copy = issued.copy(STAFF)
    values = fields(copy)
    after, row = await send_in(issued, render("foxmail-read", values), values["receipt_to"], envelope=STAFF)
    assert row.status == "done", row.reason
    staff = after[STAFF]
    assert staff["read_at"] is not None and staff["delivered_at"] is not None
    assert (staff["acknowledged_at"], staff["failed"]) == (None, False)
    assert_untouched(issued, after, CLERK, SHARED)


@pytest.mark.parametrize("kind", ["thunderbird-mdn", "postfix"])
async def test_report_sent_to_the_reply_address_still_counts(issued: Issued, kind: str) -> None:
    # Clients that ignore Disposition-Notification-To (and systems that answer Reply-To instead
    # of the envelope sender) send their report to the copy's reply address.
    copy = issued.copy(STAFF)
    values = fields(copy)
    values.update(bounce=values["reply_to"], receipt_to=values["reply_to"])
    after, row = await send_in(issued, render(kind, values), values["reply_to"])
    assert row.status == "done", row.reason
    assert after[STAFF]["read_at" if kind.endswith("mdn") else "failed"]
    assert_untouched(issued, after, CLERK, SHARED)


# Acknowledgement by reply -------------------------------------------------------------------


async def test_human_reply_acknowledges_with_comment(issued: Issued) -> None:
    copy = issued.copy(STAFF)
    values = fields(copy)
    after, row = await send_in(issued, render("outlook-reply", values), values["reply_to"], envelope=STAFF)
    assert row.status == "done", row.reason
    staff = after[STAFF]
    assert staff["comment"] == "收到，谢谢"
    assert staff["acknowledged_at"] is not None and staff["read_at"] is not None
    assert staff["delivered_at"] is not None and staff["failed"] is False
    assert_untouched(issued, after, CLERK, SHARED)


@pytest.mark.parametrize("case", ["auto-reply", "wrong-person"])
async def test_replies_that_do_not_acknowledge(issued: Issued, case: str) -> None:
    copy = issued.copy(STAFF)
    if case == "auto-reply":
        # Outlook/Exchange out-of-office answer to the copy.
        values = fields(copy, new_text="您好，我于11月27日至12月1日休假，期间不能及时回复邮件。急事请联系郑干事。",
                        extra_headers="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n",
                        reply_subject_gb=_word("自动回复: " + str(copy.message["Subject"]), "gb2312"))
        envelope = STAFF
    else:
        # edu-clerk got edu-staff's copy forwarded and answers it.
        values = fields(copy, author=CLERK)
        envelope = CLERK
    after, row = await send_in(issued, render("outlook-reply", values), values["reply_to"], envelope=envelope)
    assert row.status == "discarded", (row.status, row.reason)
    assert_untouched(issued, after)
