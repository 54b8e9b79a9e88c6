"""Management commands of ``gatekeeper.contrib.django``: ``manage.py gatekeeper``."""
