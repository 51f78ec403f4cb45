"""The Django app: connects the opt-in revocation hook (signals.py)."""

from django.apps import AppConfig


class BlnodeConfig(AppConfig):
    name = "blnode_django"
    verbose_name = "blnode"

    def ready(self):
        from . import signals

        signals.connect()
