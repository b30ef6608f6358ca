"""aiogram's own storage tests, from its sdist on PyPI, run against AioKVStorage.

`python -m tests.integrations.aiogram_suite` runs them (see __main__.py);
`storage_conftest.py` is the conftest dropped into their tests, which only
chooses the storage.
"""
