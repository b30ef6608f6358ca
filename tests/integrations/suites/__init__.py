"""The frameworks' own storage tests, from their sdists on PyPI, on aiokv's adapters.

    python -m tests.integrations.suites [aiogram] [ptb]

`runner.py` does what every framework's run shares; `frameworks.py` says what
differs (version, test file, stores); `<name>_conftest.py` is the conftest we
drop into a framework's tests, which only chooses the store.
"""
