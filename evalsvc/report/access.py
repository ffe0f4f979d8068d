"""Who may read a session's report, and when (DESIGN.md, the disclosure schedule). Pure.

- No report exists before the committee starts it (``start_report``): 409.
- Before the seal the report is a draft: the seated members and the supervisors read it
  (the members sign it); the venues' operators do not. Names are not in it.
- After the seal everyone who may see the session reads it, with the members' names.
"""

from __future__ import annotations

__all__ = ["STATE_NAMES", "require_report_reader"]

from evalsvc.auth import Principal
from evalsvc.errors import Conflict, Forbidden
from evalsvc.sessions.access import require_visible
from evalsvc.sessions.model import Session, State

STATE_NAMES = {
    "draft": "登记", "drawing": "抽取专家", "ready": "待签到", "checking_in": "签到",
    "evaluating": "评审", "aggregating": "汇总", "reporting": "编写报告", "sealed": "已封存",
    "paused": "暂停", "aborted": "已终止", "suspended": "中止(另行择期)",
}


def require_report_reader(s: Session, p: Principal) -> None:
    """Raise unless ``p`` may read the report of ``s`` now (NotFound for a session ``p``
    may not see, Conflict before the report exists, Forbidden for a draft)."""
    require_visible(s, p)
    state = s.paused.from_state if s.paused else s.state
    if state not in (State.REPORTING, State.SEALED):
        raise Conflict(
            "尚无评标报告：评标委员会开始编写报告后才有"
            f"（当前状态: {STATE_NAMES.get(s.state.value, s.state.value)}）"
        )
    if s.state is not State.SEALED and p.role not in ("expert", "supervisor"):
        raise Forbidden("封存前，评标报告草稿仅评标委员会成员和监督可查看")
