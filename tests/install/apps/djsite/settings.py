"""The smallest Django project behind the gate (extra ``django``): no database."""

SECRET_KEY = "gatekeeper-install-test"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "djsite.urls"
INSTALLED_APPS = ["gatekeeper.contrib.django"]
MIDDLEWARE = ["gatekeeper.contrib.django.GatekeeperMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
