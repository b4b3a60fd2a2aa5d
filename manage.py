#!/usr/bin/env python
"""Django's command-line utility for the Arthur Tasks Dashboard."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    # `manage.py demo` and `seed_demo` are the demo entry points: they get demo defaults (throwaway
    # secrets, SQLite) unless the environment says otherwise.
    if len(sys.argv) > 1 and sys.argv[1] in {"demo", "seed_demo"}:
        os.environ.setdefault("DASHBOARD_MODE", "demo")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
