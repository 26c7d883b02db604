import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djbench.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

from . import views  # noqa: E402

views.prepare()  # sync context: compile the ORM SQL the driver-async mode replays
