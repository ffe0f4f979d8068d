"""Typed application keys (``web.AppKey``) shared by the app factory and the routes."""

from __future__ import annotations

__all__ = ["AUDIT", "DB", "ROUTES", "SCHEDULER", "SESSIONS", "SETTINGS"]

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from evalsvc.audit.service import AuditService
from evalsvc.config import Settings
from evalsvc.db import Database
from evalsvc.httpkit import Route
from evalsvc.sessions.service import SessionService

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
DB: web.AppKey[Database] = web.AppKey("db", Database)
SESSIONS: web.AppKey[SessionService] = web.AppKey("sessions", SessionService)
AUDIT: web.AppKey[AuditService] = web.AppKey("audit", AuditService)
SCHEDULER: web.AppKey[AsyncIOScheduler] = web.AppKey("scheduler", AsyncIOScheduler)
ROUTES: web.AppKey[tuple[Route, ...]] = web.AppKey("routes", tuple)
