"""The sidecar's endpoints, one router per area: ``info`` (/, /health, /metrics, /enterprises),
``status`` (/sync/status, /sync/live/status, /sync/live/today), ``live`` (POST /sync/live/…),
``history`` (POST /sync/…) and ``fleet`` (/fleet/health). ``app.create_app`` includes them."""
