"""gunicorn settings for production (`gunicorn -c dashboard/gunicorn.conf.py dashboard.wsgi`).

Workers and threads are sized from the CPU count; every value can be overridden from the
environment. Threads matter here: a page waits on Arthur over HTTP, and with Local Arthur embedded
a request may call back into the same server (sign-in, API), which a single-threaded worker pool
could starve.
"""

import multiprocessing
import os

_cpus = multiprocessing.cpu_count()

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, _cpus)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", max(4, 2 * _cpus)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
# A wide jitter (half of max_requests) spreads worker recycling out: with a narrow one, workers that
# started together reach their limit together and restart in the same second, stalling every request.
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", str(max_requests // 2)))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
# Application logs are JSON from Django's LOGGING; gunicorn's access log stays one line a request.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
