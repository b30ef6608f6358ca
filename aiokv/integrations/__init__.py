"""Storage for bot frameworks, each in its own module and behind its own extra.

aiokv.integrations.aiogram (pip install "aiokv[aiogram]") and
aiokv.integrations.telegram (pip install "aiokv[telegram]"). Each takes a
path, and then owns its store, or any aiokv.Store (a store, or one of its
namespaces), and then shares it; they use the store's public API only.
"""
