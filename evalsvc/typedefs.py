"""Typed application keys (``web.AppKey``) shared by the app factory and the routes.

Only the keys of the wiring itself (settings, database, scheduler, routes) are here. A
service's key lives with the routes of its feature (``sessions.routes.SESSIONS``,
``audit.routes.AUDIT``, ``experts.routes.DRAWS``, ``pki.routes.PKI``,
``sessions.ws.HUB``), so that importing this module imports no service.
"""

from __future__ import annotations

__all__ = ["DB", "ROUTES", "SCHEDULER", "SETTINGS"]

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from evalsvc.config import Settings
from evalsvc.db import Database
from evalsvc.httpkit import Route

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
DB: web.AppKey[Database] = web.AppKey("db", Database)
SCHEDULER: web.AppKey[AsyncIOScheduler] = web.AppKey("scheduler", AsyncIOScheduler)
ROUTES: web.AppKey[tuple[Route, ...]] = web.AppKey("routes", tuple)
