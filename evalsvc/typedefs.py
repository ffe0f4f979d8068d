"""Typed application keys (``web.AppKey``) shared by the app factory and the routes."""

from __future__ import annotations

__all__ = ["DB", "ROUTES", "SESSIONS", "SETTINGS"]

from aiohttp import web

from evalsvc.config import Settings
from evalsvc.db import Database
from evalsvc.httpkit import Route
from evalsvc.sessions.service import SessionService

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
DB: web.AppKey[Database] = web.AppKey("db", Database)
SESSIONS: web.AppKey[SessionService] = web.AppKey("sessions", SessionService)
ROUTES: web.AppKey[tuple[Route, ...]] = web.AppKey("routes", tuple)
