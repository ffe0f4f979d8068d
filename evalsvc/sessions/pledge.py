"""The integrity pledge (评标专家承诺书) an expert accepts after check-in. Pure.

The text is configured (``[rules] pledge_file``, ``pledge_version``); its SHA-256 over
the UTF-8 bytes is what ``pledge.accepted`` records, so the log says which text each
member accepted. The built-in text follows 评标委员会和评标方法暂行规定 第14条 (the
members' duties) and 招标投标法实施条例 第49条.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PLEDGE_TEXT", "DEFAULT_PLEDGE_VERSION", "Pledge", "pledge_of"]

import hashlib
from dataclasses import dataclass

DEFAULT_PLEDGE_VERSION = "2026.1"
DEFAULT_PLEDGE_TEXT = """评标专家承诺书

本人受邀参加本项目远程异地评标，郑重承诺：
一、遵守《中华人民共和国招标投标法》及其实施条例、《评标委员会和评标方法暂行规定》
    等法律法规，客观、公正地履行职责，遵守职业道德，对所提出的评审意见承担个人责任；
二、与投标人不存在利害关系，如存在应当回避的情形，主动提出回避；
三、不私下接触投标人，不收受投标人、中介人、其他利害关系人的财物或者其他好处；
四、不向他人透露对投标文件的评审和比较、中标候选人的推荐情况以及与评标有关的其他情况；
五、不在评标期间使用与评标无关的通讯工具，不擅离评标现场；
六、按照招标文件规定的评标标准和方法独立评审，在评标报告上签字，对不同意见书面说明理由。
如有违反，愿承担相应法律责任。
"""


@dataclass(frozen=True)
class Pledge:
    """A pledge text, its version and the SHA-256 of its UTF-8 bytes (hex)."""

    version: str
    text: str
    sha256: str


def pledge_of(text: str, version: str) -> Pledge:
    """The pledge of ``text`` at ``version``."""
    return Pledge(version, text, hashlib.sha256(text.encode("utf-8")).hexdigest())
