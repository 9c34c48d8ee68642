"""The sidecar's endpoints, one router per area: ``info`` (/, /health, /metrics, /enterprises),
``status`` (/sync/status, /sync/live/status, /sync/live/today), ``live`` (POST /sync/live/…)
and ``history`` (POST /sync/…). ``app.create_app`` includes them."""
