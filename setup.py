"""asterisk-pipeline: Asterisk PBX call logs -> central call records, orchestrated by Dagster."""
from setuptools import find_packages, setup

# Runtime pins. The Dagster family is pinned together: integration libraries lag the core by a
# version and an unpinned dagster-postgres silently resolves to an ancient release.
RUNTIME = [
    "dagster==1.13.27",
    "dagster-webserver==1.13.27",
    "dagster-graphql==1.13.27",
    "dagster-postgres==0.29.27",
    # Runs on more than one host (deploy/dagster.yaml: CeleryRunLauncher, broker and results in
    # Redis). Celery and the Redis client pinned with it: kombu's Redis transport is picky.
    "dagster-celery==0.29.27",
    "celery[redis]==5.7.0",
    "redis==8.1.0",
    "SQLAlchemy==2.1.9",
    "alembic==1.20.1",
    "psycopg[binary]==3.3.9",
    "pydantic-settings==2.16.3",
    "paramiko==5.1.0",
    "fastapi==0.165.0",
    # The sidecar's /docs and /redoc without internet: Swagger UI 5 and ReDoc 2 assets shipped
    # in the wheel and served by the sidecar itself (FastAPI's defaults load them from a CDN).
    "fastapi-offline==1.7.7",
    "uvicorn==0.54.0",
    "orjson==3.13.0",
    "httpx==0.28.1",
]

DEV = [
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    "hypothesis==6.170.17",
    "psutil==7.2.2",
    "matplotlib==3.11.2",  # make soak: the RSS plot
    "schemathesis==4.32.5",
    "ruff==0.17.6",  # make lint: rules and fixes change between releases
    "mypy==2.4.1",
    # stubs for make lint's strict mypy (paramiko ships none; celery's cover kombu too)
    "types-paramiko==5.1.0.20261030",
    "celery-types==0.26.0",
]

setup(
    name="asterisk-pipeline",
    version="0.1.0",
    description="Pull Asterisk Listen_AMI call logs into one central call database",
    packages=find_packages(include=["asterisk_pipeline", "asterisk_pipeline.*"]),
    package_data={"asterisk_pipeline.warehouse": ["migrations/*.py", "migrations/versions/*.py"]},
    python_requires=">=3.11",
    install_requires=RUNTIME,
    extras_require={"dev": DEV},
    entry_points={"console_scripts": ["asterisk-pipeline=asterisk_pipeline.cli:main"]},
)
