"""The approval requests the corpus replies answer, and the people who answer them.

Every request carries Inkless's instruction (reply "同意" to approve …) and a document body that
itself often says 同意 ("经局党组会议研究同意"), so a reader that looks at the quoted original
approves wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape

CHINA = timezone(timedelta(hours=8))
DOMAIN = "oa.example.gov"
ASKED = datetime(2026, 11, 27, 9, 30, tzinfo=CHINA)

INSTRUCTION_ZH = (
    "{drafter}提交的公文请您签发（第{step}/{steps}位审批人）。\n"
    "请直接回复\"同意\"即批准，回复\"不同意\"及理由即退回。\n"
    "例如：\"同意，请修改第三段\"或\"不同意，预算过高\"。"
)
# The wording Inkless itself uses today (src/inkless/mail/texts.py), for half of the requests.
INSTRUCTION_ZH_FIRST_LINE = (
    "{drafter}提交的公文请您签发（第{step}/{steps}位审批人）。\n"
    "请直接回复本邮件：第一行写“同意”或“不同意”，其后可写意见。\n"
    "例如：“同意，请修改第三段”或“不同意，预算过高”。"
)
INSTRUCTION_EN = (
    "{drafter} asks you to sign off this document (approver {step} of {steps}).\n"
    "Reply to this mail: write \"approve\" or \"reject\" on the first line, then any comment.\n"
    "For example: \"Approve, please fix paragraph 3\" or \"Reject, over budget\"."
)
EARLIER = "已签：第1位审批人李红梅（县政府办公室主任）意见：同意，请修改第三段。（2026-11-27 09:12）"


@dataclass(frozen=True)
class Document:
    """A document waiting for sign-off."""

    title: str
    kind: str
    unit: str
    body: str


DOCUMENTS = (
    Document("关于申请追加2027年度信息化建设经费的请示", "请示", "县数据资源管理局",
             "县财政局：\n"
             "根据《县政府关于加快数字政府建设的实施意见》要求，我局拟于2027年建设政务数据共享平台二期。"
             "经局党组会议研究同意，现申请追加信息化建设经费人民币86万元，具体如下：\n"
             "一、平台扩容及等级保护测评费用52万元；\n"
             "二、数据治理外包服务费用24万元；\n"
             "三、人员培训及运维费用10万元。\n"
             "妥否，请批示。\n\n"
             "附件：1. 经费测算表\n      2. 项目可行性研究报告\n\n"
             "县数据资源管理局\n2026年11月26日"),
    Document("关于印发《县政府办公室公文处理实施细则》的通知", "通知", "县政府办公室",
             "各乡镇人民政府，县政府各部门：\n"
             "《县政府办公室公文处理实施细则》已经县政府同意，现印发给你们，请认真贯彻执行。\n"
             "执行中遇到的问题，请及时反馈县政府办公室秘书科（电话：0797-8221001）。\n\n"
             "县政府办公室\n2026年11月26日"),
    Document("关于召开全县冬春季安全生产工作会议的通知", "通知", "县应急管理局",
             "各乡镇人民政府，县直各有关单位：\n"
             "经县政府同意，定于2026年12月3日（星期四）上午9:30在县政府三楼会议室召开全县冬春季安全生产工作会议。\n"
             "一、参会人员：各乡镇分管负责同志，县直有关单位主要负责同志。\n"
             "二、会议内容：通报今年以来安全生产形势，部署冬春季安全生产重点工作。\n"
             "三、有关要求：请于12月1日前将参会回执报县应急管理局，不得缺席。\n\n"
             "县应急管理局\n2026年11月26日"),
    Document("关于2026年第四季度政府采购计划的报告", "报告", "县财政局",
             "县政府：\n"
             "现将我局2026年第四季度政府采购计划报告如下：\n"
             "一、办公设备采购预算38.6万元，采用询价方式；\n"
             "二、公务用车维修服务预算12万元，采用定点采购方式；\n"
             "三、信息系统运维服务预算45万元，采用公开招标方式。\n"
             "以上计划已经局务会研究同意。\n"
             "特此报告。\n\n"
             "县财政局\n2026年11月25日"),
    Document("关于同意设立县数据资源管理中心的批复", "批复", "县委机构编制委员会办公室",
             "县数据资源管理局：\n"
             "你局《关于设立县数据资源管理中心的请示》收悉。经研究，同意设立县数据资源管理中心，"
             "为你局所属公益一类事业单位，核定事业编制8名。\n"
             "此复。\n\n"
             "县委机构编制委员会办公室\n2026年11月26日"),
    Document("关于商请协助开展农村集体经济审计的函", "函", "县审计局",
             "县农业农村局：\n"
             "根据年度审计工作计划，我局拟于2026年12月至2027年1月对全县12个乡镇的农村集体经济开展专项审计。"
             "为确保审计工作顺利进行，商请你局协助提供近三年农村集体资产清产核资数据，并指派1名熟悉业务的同志参加。\n"
             "如蒙同意，请于12月5日前函复。\n\n"
             "县审计局\n2026年11月26日"),
    Document("关于调整城乡居民医疗保险个人缴费标准的请示", "请示", "县医疗保障局",
             "县政府：\n"
             "根据省医保局、省财政厅、省税务局《关于做好2027年城乡居民基本医疗保障工作的通知》精神，"
             "拟将我县2027年度城乡居民医保个人缴费标准由每人每年380元调整为400元，财政补助标准按省定标准执行。\n"
             "当否，请批示。\n\n"
             "县医疗保障局\n2026年11月25日"),
    Document("关于表彰2026年度优秀志愿者的决定", "决定", "县文明办",
             "各乡镇、县直各单位：\n"
             "2026年，全县广大志愿者积极投身疫情防控、防汛救灾、文明创建等工作，涌现出一批先进典型。"
             "经县委宣传部同意，决定授予张小燕等50名同志“2026年度县优秀志愿者”称号。\n"
             "希望受表彰的同志珍惜荣誉，再接再厉。\n\n"
             "附件：2026年度县优秀志愿者名单\n\n"
             "县文明办\n2026年11月26日"),
)

DRAFTERS = (("王文书", "wangws"), ("刘秘书", "liums"), ("陈科长", "chenkz"), ("黄干事", "huanggs"))


@dataclass(frozen=True)
class Person:
    """An approver: Chinese name, a romanised name some clients show, and the mailbox they answer from."""

    name: str
    latin: str
    address: str


@dataclass(frozen=True)
class Request:
    """One approval request as Inkless sent it to one approver: the message every reply quotes."""

    document: Document
    drafter: str
    drafter_address: str
    approver: Person
    token: str
    message_id: str
    step: int
    steps: int
    english: bool
    first_line_wording: bool
    earlier: bool

    @property
    def subject(self) -> str:
        return "【审批】" + self.document.title

    @property
    def reply_to(self) -> str:
        return f"reply+{self.token}@{DOMAIN}"

    @property
    def from_name(self) -> str:
        return self.drafter

    @property
    def from_address(self) -> str:
        return self.drafter_address

    def text(self) -> str:
        """The request's text as the approver's client shows it."""
        template = INSTRUCTION_EN if self.english else (
            INSTRUCTION_ZH_FIRST_LINE if self.first_line_wording else INSTRUCTION_ZH)
        intro = template.format(drafter=self.drafter, step=self.step, steps=self.steps)
        if self.earlier:
            intro += "\n" + EARLIER
        document = self.document
        return (f"{intro}\n\n{document.title}\n文种：{document.kind}    发文单位：{document.unit}    版本：第1版\n\n"
                f"{document.body}\n\n--\nInkless 公文流转 · 办理情况：https://{DOMAIN}/d/{self.token.split('-')[0][1:]}\n")

    def html(self) -> str:
        """The same text as an HTML client renders it inside its quote."""
        return "<br>\n".join(escape(line) for line in self.text().splitlines())


PEOPLE = (
    Person("张建国", "Zhang Jianguo", "zhangjg@xian.example.gov"),
    Person("李红梅", "Li Hongmei", "lihm@xian.example.gov"),
    Person("赵志强", "Zhao Zhiqiang", "zhaozq1975@163.com"),
    Person("陈明", "Chen Ming", "chenming.xian@gmail.com"),
    Person("刘卫东", "Liu Weidong", "1829375466@qq.com"),
    Person("孙丽", "Sun Li", "sunli@xian.example.gov"),
    Person("周海波", "Zhou Haibo", "zhouhb@xian.example.gov"),
    Person("吴建华", "Wu Jianhua", "wujh@xian.example.gov"),
    Person("李伟", "David Li", "liwei@xian.example.gov"),
)


TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def make_request(index: int, approver: Person, *, english: bool = False, earlier: bool = False,
                 document: Document | None = None) -> Request:
    """Request number `index` (its document, drafter, token and wording all follow from the number)."""
    drafter, login = DRAFTERS[index % len(DRAFTERS)]
    item, person = 0x1a0 + index, PEOPLE.index(approver) + 3
    signature = "".join(TOKEN_ALPHABET[(index * 7 + k * 11 + k * k) % 32] for k in range(16))
    return Request(
        document=document or DOCUMENTS[index % len(DOCUMENTS)], drafter=drafter, drafter_address=f"{login}@{DOMAIN}",
        approver=approver, token=f"a{item:x}-{person:x}-{signature}",
        message_id=f"<signoff.{item:x}.{person:x}.1764207000@{DOMAIN}>",
        step=2 if earlier else 1 + index % 2, steps=2, english=english, first_line_wording=index % 2 == 1,
        earlier=earlier)
