"""The frameworks whose own tests run on aiokv's adapters, and what differs between them."""

from __future__ import annotations

from tests.integrations.suites.runner import Framework

AIOGRAM = Framework(
    name="aiogram",
    dist="aiogram",
    # Its tests/conftest.py imports the Redis and MongoDB storages' clients.
    extras="redis,mongo",
    group="test",
    # Its test group takes pytest-asyncio through pytest-aiohttp, unpinned.
    pins=("pytest-asyncio==1.3.0",),
    suite="tests/test_fsm/storage/test_storages.py",
    conftest="tests/test_fsm/storage/conftest.py",
    file_stores=("file", "namespace"),
    redis_stores=("redis", "redis_namespace"),
)

PTB = Framework(
    name="ptb",
    dist="python-telegram-bot",
    # Its tests use the job queue, arbitrary callback data and the passport key.
    extras="all",
    group="tests",
    pins=(),
    suite="tests/ext/test_basepersistence.py",
    # Its tests/ and tests/ext/ have conftests of their own: ours goes at the root.
    conftest="conftest.py",
    file_stores=("file", "namespace"),
    redis_stores=("redis",),
    # With these its tests/conftest.py acts as in PTB's own CI on GitHub (its bots).
    unset=("GITHUB_ACTIONS", "BOTS", "JOB_INDEX"),
)

FRAMEWORKS = {framework.name: framework for framework in (AIOGRAM, PTB)}
