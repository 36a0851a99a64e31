"""Typed application state (aiohttp ``AppKey``s), shared by the factory and handlers."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from adapters.registry import Registry
from gateway.config import Settings
from gateway.delivery.pacing import RowBudget
from gateway.feed import FeedSignal
from gateway.keys import KeyCache, Principal
from gateway.limits import BodyMemory, OperatorLimiter
from gateway.notify import Listener
from gateway.operators import ProfileCache

SETTINGS = web.AppKey("settings", Settings)
DATABASE_URL = web.AppKey("database_url", str)
POOL = web.AppKey("pool", asyncpg.Pool)
KEYS = web.AppKey("keys", KeyCache)
REGISTRY = web.AppKey("registry", Registry)
LISTENER = web.AppKey("listener", Listener)
FEED = web.AppKey("feed", FeedSignal)
OUTCOMES = web.AppKey("outcomes", FeedSignal)
REPLAY_BUDGET = web.AppKey("replay_budget", RowBudget)
PROFILES = web.AppKey("profiles", ProfileCache)
LIMITER = web.AppKey("limiter", OperatorLimiter)
BODY_MEMORY = web.AppKey("body_memory", BodyMemory)
PRINCIPAL = web.RequestKey("principal", Principal)
