"""The FastAPI sidecar (port 8007) and its Dagster GraphQL client."""
